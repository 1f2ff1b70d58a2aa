"""One browser's conversations, current conversation and preferences; the data types are `llm.conversation`.

The records live in the process's `Conversations` backend (files, or Redis for several instances: see
`ui.conversation_store`), one record per conversation. A conversation is saved when a prompt is sent and when
its answer completes, stops or fails: never per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from llm.conversation import Conversation
from ui.conversation_store import FIELDS, Conversations


class ConversationStore:
    """The conversations and preferences of one browser."""

    def __init__(self, backend: Conversations, browser_id: str) -> None:
        self.backend = backend
        self.browser_id = browser_id

    async def load(self, legacy: MutableMapping[str, Any] | None = None) -> None:
        """Read the browser's data (once per process); `legacy`: NiceGUI's `app.storage.user`, to move out of."""
        await self.backend.load(self.browser_id)
        if legacy is not None:
            self._migrate(legacy)

    def _migrate(self, legacy: MutableMapping[str, Any]) -> None:
        """Move what earlier versions kept in `app.storage.user` (one blob per browser) into the backend."""
        old = legacy.get("conversations")
        if isinstance(old, Mapping):
            held = self.backend.conversations(self.browser_id)
            for data in old.values():
                try:
                    conversation = Conversation.from_dict(data)
                except (ValueError, TypeError, AttributeError):
                    continue
                if conversation.id not in held:
                    self.backend.save(self.browser_id, conversation.to_dict())
        fields = self.backend.fields(self.browser_id)
        for name in FIELDS:
            if name in legacy and name not in fields and legacy[name] is not None:
                self.backend.set_field(self.browser_id, name, legacy[name])
        for name in ("conversations", *FIELDS):
            if name in legacy:
                del legacy[name]

    def all(self) -> list[Conversation]:
        """Every saved conversation, most recently updated first (unreadable entries are skipped)."""
        conversations = []
        for data in self.backend.conversations(self.browser_id).values():
            try:
                conversations.append(Conversation.from_dict(data))
            except (ValueError, TypeError, AttributeError):
                continue
        return sorted(conversations, key=lambda c: c.updated, reverse=True)

    def get(self, conversation_id: str | None) -> Conversation | None:
        data = self.backend.conversations(self.browser_id).get(conversation_id or "")
        try:
            return Conversation.from_dict(data) if data else None
        except (ValueError, TypeError, AttributeError):
            return None

    @property
    def current_id(self) -> str | None:
        """The conversation the browser had open last (what a reload shows)."""
        current = self.backend.fields(self.browser_id).get("current")
        return current if isinstance(current, str) else None

    def current(self) -> Conversation:
        """The conversation the browser had open last, or a new (not yet saved) one."""
        return self.get(self.current_id) or Conversation()

    def open(self, conversation: Conversation) -> None:
        """Remember `conversation` as the one to show on the next visit."""
        if self.current_id != conversation.id:
            self.backend.set_field(self.browser_id, "current", conversation.id)

    def save(self, conversation: Conversation) -> None:
        """Write one conversation; which one a visit opens stays as it is."""
        conversation.updated = time.time()
        self.backend.save(self.browser_id, conversation.to_dict())

    def delete(self, conversation_id: str) -> None:
        self.backend.delete(self.browser_id, conversation_id)
        if self.current_id == conversation_id:
            self.backend.set_field(self.browser_id, "current", None)

    @property
    def preferences(self) -> dict[str, Any]:
        raw = self.backend.fields(self.browser_id).get("preferences")
        return dict(raw) if isinstance(raw, Mapping) else {}

    def save_preferences(self, preferences: Mapping[str, Any]) -> None:
        self.backend.set_field(self.browser_id, "preferences", dict(preferences))
