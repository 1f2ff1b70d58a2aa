"""The per-browser store of conversations (NiceGUI's `app.storage.user`); the data types are `llm.conversation`.

A conversation is saved when a prompt is sent and when its answer completes, stops or fails:
never per chunk, because the storage rewrites its whole file (or Redis key) on every change.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from llm.conversation import Conversation


class ConversationStore:
    """The conversations and preferences of one browser, kept in a dict-like persistent storage."""

    def __init__(self, storage: MutableMapping[str, Any]) -> None:
        self.storage = storage

    def _all_raw(self) -> Mapping[str, Any]:
        raw = self.storage.get("conversations")
        return raw if isinstance(raw, Mapping) else {}

    def all(self) -> list[Conversation]:
        """Every saved conversation, most recently updated first (unreadable entries are skipped)."""
        conversations = []
        for data in self._all_raw().values():
            try:
                conversations.append(Conversation.from_dict(data))
            except (ValueError, TypeError):
                continue
        return sorted(conversations, key=lambda c: c.updated, reverse=True)

    def get(self, conversation_id: str | None) -> Conversation | None:
        data = self._all_raw().get(conversation_id or "")
        try:
            return Conversation.from_dict(data) if data else None
        except (ValueError, TypeError):
            return None

    @property
    def current_id(self) -> str | None:
        """The conversation the browser had open last (what a reload shows)."""
        current = self.storage.get("current")
        return current if isinstance(current, str) else None

    def current(self) -> Conversation:
        """The conversation the browser had open last, or a new (not yet saved) one."""
        return self.get(self.current_id) or Conversation()

    def open(self, conversation: Conversation) -> None:
        """Remember `conversation` as the one to show on the next visit."""
        if self.storage.get("current") != conversation.id:
            self.storage["current"] = conversation.id

    def save(self, conversation: Conversation) -> None:
        """Write one conversation (one storage write); which one a visit opens stays as it is."""
        conversation.updated = time.time()
        conversations = dict(self._all_raw())
        conversations[conversation.id] = conversation.to_dict()
        self.storage["conversations"] = conversations

    def delete(self, conversation_id: str) -> None:
        conversations = dict(self._all_raw())
        conversations.pop(conversation_id, None)
        self.storage["conversations"] = conversations
        if self.storage.get("current") == conversation_id:
            self.storage["current"] = None

    @property
    def preferences(self) -> dict[str, Any]:
        raw = self.storage.get("preferences")
        return dict(raw) if isinstance(raw, Mapping) else {}

    def save_preferences(self, preferences: Mapping[str, Any]) -> None:
        self.storage["preferences"] = dict(preferences)
