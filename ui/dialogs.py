"""Small dialogs that ask for one text: a conversation's title, an edited prompt."""

from __future__ import annotations

from nicegui import ui


async def _ask(dialog: ui.dialog) -> str | None:
    """Wait for `dialog`'s answer; None when cancelled, blank, or the tab closed meanwhile."""
    answer = await dialog
    if not dialog.is_deleted:  # a closed tab deletes its elements itself
        dialog.delete()
    return answer.strip() if isinstance(answer, str) and answer.strip() else None


async def ask_title(current: str) -> str | None:
    """A new title for a conversation (at most 200 characters)."""
    with ui.dialog() as dialog, ui.card().classes("w-[32rem] max-w-full"):
        ui.label("Rename the conversation").classes("text-h6")
        name = (
            ui.input("Title", value=current)
            .props("autofocus outlined")
            .classes("w-full")
            .mark("rename-input")
            .on("keydown.enter", lambda: dialog.submit(name.value))
        )
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Rename", on_click=lambda: dialog.submit(name.value)).mark("rename-ok")
    title = await _ask(dialog)
    return title[:200] if title else None


async def ask_edit(original: str) -> str | None:
    """The edited text of a prompt, to resend."""
    with ui.dialog() as dialog, ui.card().classes("w-[40rem] max-w-full"):
        ui.label("Edit and resend").classes("text-h6")
        editor = (
            ui.textarea(value=original)
            .props("autogrow outlined autofocus")
            .classes("w-full")
            .mark("edit-text")
            .on("keydown.enter.exact.prevent", lambda: dialog.submit(editor.value))
        )
        with ui.row().classes("w-full items-center"):
            ui.label("Enter resends, Shift+Enter adds a line").classes("text-xs text-grey-6")
            ui.space()
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Resend", on_click=lambda: dialog.submit(editor.value)).mark("resend")
    return await _ask(dialog)
