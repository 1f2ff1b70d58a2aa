"""Small building blocks shared by the page's parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui

HEADER_BUTTON = "flat round color=white"
SMALL_BUTTON = "flat round dense size=sm"


def icon_button(icon: str, label: str, on_click: Callable[..., Any], props: str = SMALL_BUTTON) -> ui.button:
    """An icon-only button with a tooltip and the same text for screen readers."""
    return ui.button(icon=icon, on_click=on_click).props(f'{props} aria-label="{label}"').tooltip(label)
