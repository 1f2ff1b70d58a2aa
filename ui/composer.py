"""Where a prompt is written: the input (Enter sends, ↑ recalls) and the Send button that turns into Stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import events, ui

#: The character counter shows from this share of the prompt limit on.
COUNTER_FROM = 0.8


class Composer:
    """The prompt input and the Send/Stop button of one tab."""

    def __init__(
        self, limit: int, *, send: Callable[[], Any], toggle: Callable[[], Any], last_prompt: Callable[[], str | None]
    ) -> None:
        self.limit = limit
        self._last_prompt = last_prompt
        self.shows_stop = False
        self._empty: str | None = ""  # the empty value the browser's copy of the input holds ("" at first)
        with ui.row().classes("w-full max-w-3xl mx-auto no-wrap items-start px-3 py-2 gap-2"):
            self.input = (
                ui.textarea(
                    placeholder="Message Rivulet (Enter sends, Shift+Enter adds a line, Esc stops)",
                    validation={
                        f"That is the limit of {limit:,} characters: longer text was cut off.": lambda v: (
                            len(v or "") < limit
                        )
                    },
                )
                .props(f"autogrow outlined dense autofocus maxlength={limit}")
                .classes("flex-grow prompt")
                .mark("prompt")
                .on("keydown.enter.exact.prevent", send)
                .on("keydown.up", self._recall)
                .on_value_change(self._show_counter_near_limit)
            )
            self.button = ui.button("Send", icon="send", on_click=toggle).classes("mt-1").mark("send")

    def clear(self) -> None:
        """Empty the input after a send.

        Writing the empty value the browser's copy already holds makes NiceGUI's input echo it
        back, and a late echo would wipe a prompt given back meanwhile (a provider that fails at
        once): alternating "" and None makes every clear a real change, so nothing echoes.
        """
        self._empty = None if self._empty == "" else ""
        self.input.value = self._empty

    def show_stop(self, stop: bool) -> None:
        """Send while idle, Stop while an answer of this conversation streams."""
        self.shows_stop = stop
        if stop:
            self.button.set_text("Stop")
            self.button.props("icon=stop color=negative")
        else:
            self.button.set_text("Send")
            self.button.props("icon=send color=primary")

    def _recall(self) -> None:
        if not self.input.value and (prompt := self._last_prompt()):
            self.input.value = prompt

    def _show_counter_near_limit(self, event: events.ValueChangeEventArguments) -> None:
        near = len(event.value or "") >= COUNTER_FROM * self.limit
        if near != ("counter" in self.input.props):
            self.input.props(add="counter" if near else None, remove=None if near else "counter")
