"""Export a conversation as Markdown or JSON, and import a JSON export."""

from __future__ import annotations

import json
from collections.abc import Callable

from nicegui import events, ui

from llm.conversation import Conversation


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
    return imported


def open_import(on_import: Callable[[Conversation], None]) -> None:
    """An upload dialog, created only when asked for.

    NiceGUI's upload element registers a route whose handler outlives a deleted page, so a
    permanent one would keep every closed tab in memory.
    """
    with ui.dialog() as dialog, ui.card():
        ui.label("Import a conversation exported as JSON").classes("text-subtitle1")

        async def upload(event: events.UploadEventArguments) -> None:
            dialog.close()
            try:
                imported = read_export(await event.file.text())
            except (ValueError, TypeError, UnicodeDecodeError):
                ui.notify("That file is not a Rivulet conversation (JSON exported from Rivulet).", type="warning")
                return
            on_import(imported)
            ui.notify(f"Imported “{imported.title}”.", type="positive")

        ui.upload(on_upload=upload, auto_upload=True).props("accept=.json flat bordered").mark("import-file")
    dialog.on("hide", dialog.delete)
    dialog.open()
