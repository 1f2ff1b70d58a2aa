"""Conversations as plain data: the one message type of Rivulet, and what can be done to a conversation.

The page, `/ask` and the command line all speak `Message`; LangChain's messages are made
from it only where a model is called (`llm.streaming.build_messages`).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from llm.steps import Step

Role = Literal["user", "assistant"]
MessageStatus = Literal["done", "stopped", "error"]
TITLE_LENGTH = 48
NEW_TITLE = "New chat"


@dataclass
class Message:
    """One message of a conversation. An answer that did not complete keeps its partial text."""

    role: Role
    content: str
    status: MessageStatus = "done"
    error: str | None = None  # the human sentence of a failed answer
    figures: dict[str, Any] | None = None  # `AnswerStats.to_dict()` of an answer
    #: The other versions of this answer to the same prompt (oldest first), each with its own reasoning, steps,
    #: figures and model; "regenerate" adds one, "flip" shows the next.
    alternatives: list[Message] = field(default_factory=list)
    #: What the model reasoned before (or while) it answered: shown and exported, never sent back to it.
    reasoning: str | None = None
    #: The model spec that produced this answer (e.g. "local", "openai:gpt-4o-mini"); None for old data.
    model: str | None = None
    #: An agent's tool calls, in order, each placed in `content` by its `at`.
    steps: list[Step] = field(default_factory=list)
    #: What the answer was asked with: the system prompt and the model call's options (temperature, max_tokens).
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The message as plain data; the optional fields only when they hold something (old data has none)."""
        data = asdict(self.version())  # the versions once, each by its own `to_dict`
        data["alternatives"] = [alternative.to_dict() for alternative in self.alternatives]
        for key in ("reasoning", "model", "steps", "system", "options"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        role, content, status = data.get("role"), data.get("content"), data.get("status") or "done"
        if role not in {"user", "assistant"} or not isinstance(content, str):
            raise ValueError("a message needs a role (user or assistant) and a text content")
        figures = data.get("figures")
        return cls(
            role=role,
            content=content,
            status=status if status in {"done", "stopped", "error"} else "done",
            error=data.get("error") if isinstance(data.get("error"), str) else None,
            figures=dict(figures) if isinstance(figures, Mapping) else None,
            alternatives=_versions(data.get("alternatives")),
            reasoning=data.get("reasoning") if isinstance(data.get("reasoning"), str) else None,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            steps=_steps(data.get("steps")),
            system=data.get("system") if isinstance(data.get("system"), str) else None,
            options={k: v for k, v in options.items() if isinstance(v, int | float | str)}
            if isinstance(options := data.get("options"), Mapping)
            else {},
        )

    @property
    def incomplete(self) -> bool:
        return self.status in {"stopped", "error"}

    def version(self) -> Message:
        """This answer alone, without its other versions."""
        return replace(self, alternatives=[])


@dataclass
class Conversation:
    """A titled list of messages, and the edits the page offers on it."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    title: str = NEW_TITLE
    messages: list[Message] = field(default_factory=list)
    updated: float = field(default_factory=time.time)
    #: The model spec this conversation answers with (None: the browser's default).
    model: str | None = None

    def history(self) -> list[Message]:
        """The messages to send to a model: every message with text, partial answers included."""
        return [m for m in self.messages if m.content]

    def add_user(self, prompt: str) -> Message:
        if self.title == NEW_TITLE and not any(m.role == "user" for m in self.messages):
            self.title = title_from(prompt)
        message = Message("user", prompt)
        self.messages.append(message)
        return message

    def turn_at(self, index: int) -> range:
        """The indices of the turn that message `index` belongs to: a prompt and the answer after it."""
        start = index - 1 if self.messages[index].role == "assistant" and index > 0 else index
        if self.messages[start].role != "user":
            return range(index, index + 1)  # an answer without its prompt (an old import): alone
        end = start + 1
        if end < len(self.messages) and self.messages[end].role == "assistant":
            end += 1
        return range(start, end)

    def delete_turn(self, index: int) -> None:
        """Delete the prompt and the answer of the turn that message `index` belongs to."""
        turn = self.turn_at(index)
        del self.messages[turn.start : turn.stop]

    def flip_version(self, index: int) -> bool:
        """Show the answer's next version (they go round); False when it has only one."""
        message = self.messages[index]
        if not message.alternatives:
            return False
        versions = [message.version(), *message.alternatives]
        shown = versions.pop()
        self.messages[index] = replace(shown, alternatives=versions)
        return True

    def take_answer_to_regenerate(self) -> tuple[str, list[Message]] | None:
        """Remove the last answer; return its prompt and the versions to keep (an empty failed one is not kept)."""
        if len(self.messages) < 2 or self.messages[-1].role != "assistant":
            return None
        old = self.messages.pop()
        kept = [*old.alternatives, old.version()] if old.content else list(old.alternatives)
        return self.messages[-1].content, kept

    def truncate(self, index: int) -> None:
        """Forget message `index` and everything after it (to resend an edited prompt from there)."""
        del self.messages[index:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "updated": self.updated,
            "messages": [m.to_dict() for m in self.messages],
            **({"model": self.model} if self.model else {}),
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
            model=data.get("model") if isinstance(data.get("model"), str) else None,
        )

    def to_json(self) -> str:
        return json.dumps(
            {"format": "rivulet-conversation", "version": 1, **self.to_dict()}, ensure_ascii=False, indent=2
        )

    def to_markdown(self) -> str:
        parts = [f"# {self.title}\n"]
        systems = {m.system for m in self.messages if m.role == "assistant"}
        shared_system = systems.pop() if len(systems) == 1 else None
        if shared_system:
            parts.append(f"System prompt:\n\n{quoted(shared_system)}\n")
        for message in self.messages:
            who = "You" if message.role == "user" else "Assistant"
            note = f" *({message.status})*" if message.incomplete else ""
            parts.append(f"## {who}{note}\n")
            if message.system and message.system != shared_system:
                parts.append(f"System prompt:\n\n{quoted(message.system)}\n")
            if message.reasoning:
                parts.append(thinking_markdown(message.reasoning, (message.figures or {}).get("reasoning_s")))
            parts.append(f"{with_steps(message.content, message.steps)}\n")
            if message.error:
                parts.append(f"> {message.error}\n")
            if asked := asked_with(message):
                parts.append(f"*{asked}*\n")
        return "\n".join(parts)


def asked_with(message: Message) -> str:
    """'local · temperature 0.7 · max_tokens 512': the model and options of an answer ('' when unknown)."""
    options = [f"{name} {value}" for name, value in sorted(message.options.items())]
    return " · ".join(filter(None, [message.model or "", *options]))


def quoted(text: str) -> str:
    """`text` as a Markdown quote; a `</details>` in it stays text."""
    safe = text.replace("</details", "&lt;/details")
    return "\n".join(f"> {line}".rstrip() for line in safe.strip("\n").splitlines())


def _versions(raw: Any) -> list[Message]:
    """The other versions of an answer: messages (older data: their texts only)."""
    versions = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            versions.append(Message("assistant", item))
        elif isinstance(item, Mapping):
            with contextlib.suppress(ValueError, TypeError):
                versions.append(Message.from_dict({**item, "alternatives": []}))
    return versions


def _steps(raw: Any) -> list[Step]:
    steps = []
    for item in raw if isinstance(raw, list) else []:
        try:
            steps.append(Step.from_dict(item))
        except (ValueError, TypeError):
            continue
    return steps


def with_steps(content: str, steps: list[Step]) -> str:
    """The answer's Markdown with each tool call as a quoted line where it happened (for exports)."""
    pieces, start = [], 0
    for step in sorted(steps, key=lambda s: s.at):
        at = min(max(step.at, start), len(content))
        pieces += [content[start:at].rstrip("\n"), f"> Tool call: {step.line()}"]
        start = at
    pieces.append(content[start:].lstrip("\n"))
    return "\n\n".join(p for p in pieces if p)


def thinking_caption(seconds: float | None) -> str:
    """'Thought for 4.2 s': the heading of an answer's reasoning, once it is over."""
    return f"Thought for {seconds:.1f} s" if isinstance(seconds, (int, float)) else "Reasoning"


def thinking_markdown(reasoning: str, seconds: float | None) -> str:
    """The reasoning as a collapsed, quoted block in a Markdown export (before the answer)."""
    # A `</details>` in the reasoning would close the block early: `quoted` keeps it as text.
    return f"<details><summary>{thinking_caption(seconds)}</summary>\n\n{quoted(reasoning)}\n\n</details>\n"


def title_from(prompt: str) -> str:
    """A short title from the first prompt: its first line, cut at a word boundary."""
    line = " ".join(prompt.strip().split())
    if len(line) <= TITLE_LENGTH:
        return line or NEW_TITLE
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut + "…"
