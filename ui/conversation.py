"""Conversations as plain data, and their per-browser store (NiceGUI's `app.storage.user`).

A conversation is saved when a prompt is sent and when its answer completes, stops or fails:
never per chunk, because the storage rewrites its whole file (or Redis key) on every change.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any

from llm.streaming import Turn

TITLE_LENGTH = 48
NEW_TITLE = "New chat"


@dataclass
class Message:
    """One message. An assistant message that did not complete keeps its partial text."""

    role: str
    content: str
    status: str = "done"  # done | stopped | error
    error: str | None = None
    figures: dict[str, Any] | None = None
    #: Earlier answers to the same prompt, replaced by "regenerate" (oldest first).
    alternatives: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        role = data.get("role")
        content = data.get("content")
        if role not in {"user", "assistant"} or not isinstance(content, str):
            raise ValueError("a message needs a role (user or assistant) and a text content")
        alternatives = [a for a in data.get("alternatives") or [] if isinstance(a, str)]
        figures = data.get("figures")
        return cls(
            role=role,
            content=content,
            status=str(data.get("status") or "done"),
            error=data.get("error") if isinstance(data.get("error"), str) else None,
            figures=dict(figures) if isinstance(figures, Mapping) else None,
            alternatives=alternatives,
        )

    @property
    def incomplete(self) -> bool:
        return self.status in {"stopped", "error"}


@dataclass
class Conversation:
    """A titled list of messages."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    title: str = NEW_TITLE
    messages: list[Message] = field(default_factory=list)
    updated: float = field(default_factory=time.time)

    def history(self) -> list[Turn]:
        """The turns to send to a model: every message with text, partial answers included."""
        return [Turn("user" if m.role == "user" else "assistant", m.content) for m in self.messages if m.content]

    def add_user(self, prompt: str) -> Message:
        if self.title == NEW_TITLE and not any(m.role == "user" for m in self.messages):
            self.title = title_from(prompt)
        message = Message("user", prompt)
        self.messages.append(message)
        return message

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "updated": self.updated,
            "messages": [asdict(m) for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conversation:
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise ValueError("a conversation needs a list of messages")
        return cls(
            id=str(data.get("id") or uuid.uuid4().hex[:12]),
            title=str(data.get("title") or "Imported chat")[:200],
            messages=[Message.from_dict(m) for m in messages],
            updated=float(data.get("updated") or time.time()),
        )

    def to_json(self) -> str:
        return json.dumps(
            {"format": "rivulet-conversation", "version": 1, **self.to_dict()}, ensure_ascii=False, indent=2
        )

    def to_markdown(self) -> str:
        parts = [f"# {self.title}\n"]
        for message in self.messages:
            who = "You" if message.role == "user" else "Assistant"
            note = f" *({message.status})*" if message.incomplete else ""
            parts.append(f"## {who}{note}\n\n{message.content}\n")
            if message.error:
                parts.append(f"> {message.error}\n")
        return "\n".join(parts)


def title_from(prompt: str) -> str:
    """A short title from the first prompt: its first line, cut at a word boundary."""
    line = " ".join(prompt.strip().split())
    if len(line) <= TITLE_LENGTH:
        return line or NEW_TITLE
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut + "…"


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

    def current(self) -> Conversation:
        """The conversation the browser had open last, or a new (not yet saved) one."""
        return self.get(self.storage.get("current")) or Conversation()

    def open(self, conversation: Conversation) -> None:
        self.storage["current"] = conversation.id

    def save(self, conversation: Conversation) -> None:
        """Write one conversation (one storage write)."""
        conversation.updated = time.time()
        conversations = dict(self._all_raw())
        conversations[conversation.id] = conversation.to_dict()
        self.storage["conversations"] = conversations
        self.storage["current"] = conversation.id

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
