"""Export a conversation as Markdown or JSON, and import a JSON export."""

from __future__ import annotations

import json
from collections.abc import Callable

from nicegui import events, ui

from llm.conversation import Conversation

IMPORTED = " (imported)"


def filename(title: str) -> str:
    """A safe file name from a conversation's title."""
    safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in title).strip()
    return safe[:60] or "conversation"


def export_markdown(conversation: Conversation) -> None:
    ui.download.content(conversation.to_markdown().encode(), f"{filename(conversation.title)}.md", "text/markdown")


def export_json(conversation: Conversation) -> None:
    ui.download.content(conversation.to_json().encode(), f"{filename(conversation.title)}.json", "application/json")


def read_export(text: str) -> Conversation:
    """The conversation in a JSON export, with a new id (an import never overwrites a conversation)."""
    imported = Conversation.from_dict(json.loads(text))
    imported.id = Conversation().id
    if not imported.title.endswith(IMPORTED):
        imported.title += IMPORTED  # tells it from the original in the list
    return imported


def open_import(on_import: Callable[[Conversation], None]) -> None:
    """An upload dialog, created only when asked for.

    NiceGUI's upload element registers a route whose handler outlives a deleted page, so a
    permanent one would keep every closed tab in memory.
    """
    with ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full"):
        ui.label("Import a conversation").classes("text-h6")
        ui.label(
            "Choose a .json file exported from Rivulet (“Export as JSON”), or drop it on the box below. "
            "It opens as a new chat; nothing is overwritten."
        ).classes("text-sm")

        async def upload(event: events.UploadEventArguments) -> None:
            dialog.close()
            try:
                imported = read_export(await event.file.text())
            except (ValueError, TypeError, UnicodeDecodeError):
                ui.notify("That file is not a Rivulet conversation (JSON exported from Rivulet).", type="warning")
                return
            on_import(imported)
            ui.notify(f"Imported “{imported.title}”.", type="positive")

        ui.upload(label="Choose a JSON export", on_upload=upload, auto_upload=True).props(
            "accept=.json flat bordered"
        ).classes("w-full import-file").mark("import-file")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
    dialog.on("hide", dialog.delete)
    dialog.open()
