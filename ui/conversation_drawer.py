"""The left drawer: new chat, the list of conversations (switch, rename, delete), export and import."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from llm.conversation import Conversation

# NiceGUI imports an element's module when it is first used: about 150 ms for the menu's, not at a first click.
_MENUS = (ui.menu, ui.menu_item)


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
            self.undo_row = ui.row().classes("w-full items-center no-wrap gap-1 text-sm undo-row")
            self.undo_row.set_visibility(False)
            self.items = ui.column().classes("w-full gap-0")
            ui.separator().classes("my-2")
            ui.label("This chat").classes("text-xs text-grey-6")
            for label, action, marker in (
                ("Export as Markdown", actions.export_markdown, "export-markdown"),
                ("Export as JSON (re-importable)", actions.export_json, "export-json"),
            ):
                ui.button(label, icon="download", on_click=action).props("flat dense no-caps align=left").classes(
                    "w-full"
                ).mark(marker)
            ui.button("Import a JSON export…", icon="upload", on_click=actions.open_import).props(
                "flat dense no-caps align=left"
            ).classes("w-full").mark("import")

    def toggle(self) -> None:
        self.drawer.toggle()

    def offer_undo(self, title: str, undo: Callable[[], Any], seconds: float = 15.0) -> None:
        """'Deleted “title” · Undo' at the top of the list for a while."""
        self.undo_row.clear()

        def restore() -> None:
            self.undo_row.set_visibility(False)
            undo()

        with self.undo_row:
            ui.label(f"Deleted “{title}”").classes("flex-grow ellipsis")
            ui.button("Undo", on_click=restore).props("flat dense no-caps color=primary").mark("undo-delete")
            ui.timer(seconds, lambda: self.undo_row.set_visibility(False), once=True)
        self.undo_row.set_visibility(True)

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
                    more = ui.button(icon="more_vert").props('flat round dense size=sm aria-label="Rename or delete"')
                    more.on_click(lambda _, c=conversation, b=more: self._open_menu(b, c)).mark("conversation-menu")

    def _open_menu(self, button: ui.button, conversation: Conversation) -> None:
        """A conversation's menu, made when it is first opened: most never are, and each costs about 1.3 KB of
        page updates whenever the list is drawn. Once made, Quasar opens and closes it with its button."""
        if button.default_slot.children:
            return
        with button, ui.menu() as menu:
            ui.menu_item("Rename", on_click=lambda: self.actions.rename(conversation.id)).mark("rename")
            ui.menu_item("Delete", on_click=lambda: self.actions.delete(conversation.id)).mark("delete-conversation")
        menu.open()
