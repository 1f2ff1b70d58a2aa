"""An answer streaming on another instance, as a page here shows it: rebuilt from the entries of its stream.

It offers what a page reads of a local `AnswerJob` (text, reasoning and steps so far, figures, the message once
it has ended), so the same `AnswerView` shows either. Stop asks the instance where it runs; that instance saves
the answer. If that instance dies, the answer ends here as "Interrupted", with everything that reached the
stream, and one instance saves it so (see `ui.redis_relay`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from llm.conversation import Conversation, Message
from llm.signals import Signal
from llm.steps import Step
from ui.answer_stream import loads
from ui.jobs import LiveAnswer

if TYPE_CHECKING:
    from ui.answer_relay import AnswerRelay, Key
    from ui.jobs import JobBoard

#: The error of an answer whose instance stopped while writing it.
INTERRUPTED = (
    "Interrupted: the Rivulet instance writing this answer stopped. What it wrote is kept; regenerate to try again."
)


class RemoteAnswer(LiveAnswer):
    """An answer that streams elsewhere, followed from its stream (`cursor`: the last entry read)."""

    remote = True

    def __init__(self, key: Key, conversation: Conversation, board: JobBoard | None = None) -> None:
        super().__init__(key, conversation)
        self.board = board
        self.cursor = "0-0"

    @property
    def relay(self) -> AnswerRelay | None:
        return None if self.board is None else self.board.relay

    # -- reading the stream ----------------------------------------------------------------------------------------
    def apply(self, fields: dict[str, str]) -> None:
        """Take in one entry of the stream (see `ui.answer_stream`)."""
        if self.done:
            return
        if meta := loads(fields.get("m")):
            self._meta(meta)
        if "A" in fields:
            self.parts[:] = _rest(self.text, fields["A"], self.parts)
        elif text := fields.get("a"):
            self.parts.append(text)
        if "R" in fields:
            self.reasoning_parts[:] = _rest(self.reasoning, fields["R"], self.reasoning_parts)
        elif text := fields.get("r"):
            self.reasoning_parts.append(text)
        for data in loads(fields.get("s")) or []:
            try:
                step = Step.from_dict(data)
            except (ValueError, TypeError, AttributeError):
                continue
            self._steps[step.id] = step
        if isinstance(figures := loads(fields.get("f")), dict):
            self._figures(figures)
        if isinstance(end := loads(fields.get("end")), dict):
            try:
                message = Message.from_dict({**end, "content": self.text, "reasoning": self.reasoning or None})
            except (ValueError, TypeError, AttributeError):
                message = self.interrupted_message()
            self.finish(message)

    def _meta(self, meta: dict[str, Any]) -> None:
        self.spec = meta.get("model") if isinstance(meta.get("model"), str) else None
        self.system = meta.get("system") if isinstance(meta.get("system"), str) else None
        self.options = dict(meta["options"]) if isinstance(meta.get("options"), dict) else {}
        self.alternatives = [Message.from_dict(m) for m in meta.get("alternatives") or [] if isinstance(m, dict)]

    def _figures(self, figures: dict[str, Any]) -> None:
        """The writer's figures, on this process's clock."""
        now, stats = time.monotonic(), self.stats
        if isinstance(elapsed := figures.get("e"), int | float):
            stats.started = now - elapsed
        if isinstance(first := figures.get("t1"), int | float):
            stats.first_chunk_at = stats.started + first
        stats.chunks = int(figures.get("n") or 0)
        stats.chars = int(figures.get("c") or 0)
        if isinstance(thought := figures.get("rs"), int | float):
            stats.reasoning_started = stats.reasoning_started or now - thought
            stats.reasoning_ended = now
        stats.thinking = bool(figures.get("th"))
        signal = figures.get("sg")
        self.signal = Signal(signal) if signal in Signal._value2member_map_ else None

    # -- ending --------------------------------------------------------------------------------------------------
    def finish(self, message: Message) -> None:
        """The answer ended (saved where it ran, or as interrupted): show it as saved."""
        if self.done:
            return
        self.message = message
        messages = self.conversation.messages
        if not messages or messages[-1].role == "user":  # else the conversation was read with it already saved
            messages.append(message)
        if self.board is not None:
            self.board.forget(self)
        self.tell_views_it_ended()

    def interrupted_message(self) -> Message:
        """The message of this answer cut off with its instance: all that reached the stream, marked so."""
        self.stats.finish("error", INTERRUPTED)
        return self.as_message()

    def interrupt(self) -> None:
        self.finish(self.interrupted_message())

    # -- what a page asks ------------------------------------------------------------------------------------------
    def cancel(self, *, save: bool = True) -> None:
        """Ask the instance where it runs to stop it; it ends here when that instance has saved it."""
        if self.relay is not None and not self.done:
            self.relay.stop(self.key, save=save)

    def abandon(self) -> None:
        """A tab here closed: the answer goes on where it runs (its own tabs decide)."""


def _rest(have: str, whole: str, parts: list[str]) -> list[str]:
    """The parts after taking in the whole text: what is here stays (views have shown it), the rest is added."""
    if whole.startswith(have):
        return [*parts, whole[len(have) :]] if len(whole) > len(have) else list(parts)
    return [whole]  # it differs (should not happen): the writer's text wins
