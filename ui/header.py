"""The header bar: conversations button, title, the model in use, theme and settings buttons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import app, ui

from ui.widgets import HEADER_BUTTON, icon_button

#: The theme button's icon and tooltip for each mode (None: follow the system).
THEMES = {
    None: ("brightness_auto", "Theme: follows the system (click for dark)"),
    True: ("dark_mode", "Theme: dark (click for light)"),
    False: ("light_mode", "Theme: light (click to follow the system)"),
}


class ThemeButton:
    """Cycles system → dark → light, remembered per browser, and shows the mode it is in."""

    def __init__(self) -> None:
        self.dark = ui.dark_mode(app.storage.user.get("dark"))
        with ui.button(on_click=self.cycle).props(HEADER_BUTTON).mark("dark-mode") as self.button:
            self.tooltip = ui.tooltip("")
        self._show()

    def cycle(self) -> None:
        order = [None, True, False]
        self.dark.value = order[(order.index(self.dark.value) + 1) % 3]
        app.storage.user["dark"] = self.dark.value
        self._show()

    def _show(self) -> None:
        icon, tooltip = THEMES[self.dark.value]
        self.button.props(f'icon={icon} aria-label="{tooltip}"')
        self.tooltip.set_text(tooltip)


def header(model: str, *, toggle_conversations: Callable[[], Any], toggle_settings: Callable[[], Any]) -> ui.label:
    """Build the header; returns the label that names the model in use."""
    with ui.row().classes("w-full items-center px-2 py-1 bg-primary text-white no-wrap gap-1 app-header"):
        icon_button("menu", "Conversations", toggle_conversations, HEADER_BUTTON)
        ui.icon("water", size="1.6em")
        ui.label("Rivulet").classes("text-h6")
        ui.space()
        model_label = ui.label(f"model: {model}").classes("text-sm opacity-80 model-label ellipsis")
        ThemeButton()
        icon_button("tune", "Settings", toggle_settings, HEADER_BUTTON).mark("settings-button")
    return model_label
