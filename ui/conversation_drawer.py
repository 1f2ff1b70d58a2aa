"""The left drawer: new chat, the list of conversations (switch, rename, delete), export and import."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from llm.conversation import Conversation


@dataclass(frozen=True)
class DrawerActions:
    """What the drawer's controls do (the page implements them)."""

    new_chat: Callable[[], Any]
    switch: Callable[[str], Any]
    rename: Callable[[str], Any]
    delete: Callable[[str], Any]
    export_markdown: Callable[[], Any]
    export_json: Callable[[], Any]
    open_import: Callable[[], Any]


class ConversationDrawer:
    """The drawer and its list, redrawn only when the titles or the open conversation change."""

    def __init__(self, actions: DrawerActions) -> None:
        self.actions = actions
        self._listed: list[tuple[str, str]] = []  # what the list shows now
        with ui.left_drawer(value=False).props("bordered width=280").classes("gap-1") as self.drawer:
            ui.button("New chat", icon="add", on_click=actions.new_chat).props("outline").classes("w-full").mark(
                "new-chat"
            )
            self.items = ui.column().classes("w-full gap-0")
            ui.separator().classes("my-2")
            with ui.row().classes("w-full gap-1"):
                ui.button("Markdown", icon="download", on_click=actions.export_markdown).props("flat dense")
                ui.button("JSON", icon="download", on_click=actions.export_json).props("flat dense")
            ui.button("Import JSON", icon="upload", on_click=actions.open_import).props("flat dense").mark("import")

    def toggle(self) -> None:
        self.drawer.toggle()

    def show(self, conversations: Sequence[Conversation], current_id: str) -> None:
        """List `conversations`, marking the open one; nothing is sent when the list is unchanged."""
        shown = [(c.id, c.title) for c in conversations] + [("current", current_id)]
        if shown == self._listed:
            return
        self._listed = shown
        self.items.clear()
        with self.items:
            for conversation in conversations:
                current = " current" if conversation.id == current_id else ""
                with ui.row().classes("w-full items-center no-wrap gap-0 conversation-item" + current):
                    ui.button(conversation.title, on_click=lambda c=conversation: self.actions.switch(c.id)).props(
                        "flat no-caps align=left dense"
                    ).classes("flex-grow ellipsis text-left").mark("conversation")
                    with ui.button(icon="more_vert").props("flat round dense size=sm"), ui.menu():
                        ui.menu_item("Rename", on_click=lambda c=conversation: self.actions.rename(c.id)).mark("rename")
                        ui.menu_item("Delete", on_click=lambda c=conversation: self.actions.delete(c.id)).mark(
                            "delete-conversation"
                        )
