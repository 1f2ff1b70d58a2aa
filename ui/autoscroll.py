"""Keeps the newest text in view while the reader stays at the bottom; a button brings a reader back who scrolled up."""

from __future__ import annotations

from nicegui import events, ui

from ui.widgets import icon_button


class Autoscroll:
    """A scroll area that sticks to its end until the reader scrolls up, with a "jump to latest" button."""

    def __init__(self) -> None:
        self.sticks_to_end = True
        self._last_position = 0.0
        self.area = ui.scroll_area(on_scroll=self._on_scroll).classes("w-full h-full")
        self.jump = (
            icon_button("south", "Jump to the latest text", self.jump_to_end, "round color=primary")
            .classes("absolute bottom-3 right-6")
            .mark("jump")
        )
        self.jump.set_visibility(False)

    def keep_up(self) -> None:
        """New text arrived: scroll to it unless the reader scrolled away."""
        if self.sticks_to_end:
            self.area.scroll_to(percent=1.0)

    def jump_to_end(self) -> None:
        self.sticks_to_end = True
        self.jump.set_visibility(False)
        self.area.scroll_to(percent=1.0)

    def _on_scroll(self, event: events.ScrollEventArguments) -> None:
        at_end = event.vertical_percentage >= 0.99 or event.vertical_size <= event.vertical_container_size
        if at_end:
            self.sticks_to_end = True
        elif event.vertical_position < self._last_position - 2:
            self.sticks_to_end = False  # the reader scrolled up: stop following until they come back
        self._last_position = event.vertical_position
        self.jump.set_visibility(not self.sticks_to_end)
