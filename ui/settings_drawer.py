"""The right drawer: the conversation's model; system prompt, temperature and max tokens, remembered per browser."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nicegui import events, ui


def settings_drawer(
    specs: Sequence[str],
    prefs: dict[str, Any],
    set_pref: Callable[[str, object], None],
    change_model: Callable[[events.ValueChangeEventArguments], None],
) -> tuple[ui.right_drawer, ui.select]:
    """Build the drawer (closed); return it and its model picker."""
    with ui.right_drawer(value=False).props("bordered width=320").classes("gap-3") as drawer:
        with ui.row().classes("w-full items-center no-wrap"):
            ui.label("Settings").classes("text-h6")
            ui.space()
            ui.button(icon="close", on_click=lambda: drawer.hide()).props(
                'flat round dense aria-label="Close the settings"'
            ).tooltip("Close (Esc)").mark("close-settings")
        model_select = (
            ui.select(list(specs), value=prefs["model"], label="Model", on_change=change_model)
            .classes("w-full")
            .mark("model-select")
        )
        ui.textarea(
            "System prompt",
            value=prefs["system_prompt"],
            on_change=lambda e: set_pref("system_prompt", e.value or ""),
        ).props("autogrow outlined").classes("w-full").mark("system-prompt")
        ui.label("Temperature").classes("text-sm")
        ui.slider(
            min=0,
            max=2,
            step=0.1,
            value=prefs["temperature"],
            on_change=lambda e: set_pref("temperature", float(e.value)),
        ).props("label-always").classes("mt-6").mark("temperature")
        ui.number(
            "Max tokens",
            value=prefs["max_tokens"],
            min=1,
            max=1_000_000,
            precision=0,
            on_change=lambda e: e.value and set_pref("max_tokens", int(e.value)),
        ).classes("w-full").mark("max-tokens")
        ui.label("API keys come from the environment or a .env file, never from this page.").classes(
            "text-xs text-grey-6"
        )
    return drawer, model_select
