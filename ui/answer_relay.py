"""How the running answers of one instance reach the others: the interface, and its one-instance form.

A `JobBoard` tells its relay when an answer starts and ends here; the relay tells the board which answers run
on other instances, so that a page can follow one (`ui.remote_answer.RemoteAnswer`) and stop it. With one
instance (files, or tests) `AnswerRelay` itself is the relay: nothing runs elsewhere and nothing is sent.
Several instances share their answers through Redis Streams: `ui.redis_relay.RedisAnswerRelay`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.jobs import AnswerJob, JobBoard
    from ui.remote_answer import RemoteAnswer

Key = tuple[str, str]  # (browser id, conversation id)


class AnswerRelay:
    """The running answers of this process only: what every relay offers, for one instance."""

    def __init__(self) -> None:
        self.board: JobBoard | None = None

    async def start(self) -> None:
        """Begin background work, once the event loop runs."""

    async def close(self) -> None:
        """End background work."""

    def started(self, job: AnswerJob) -> None:
        """An answer began streaming here."""

    def ended(self, job: AnswerJob) -> None:
        """An answer that streamed here ended, and its conversation is saved."""

    def abandoned(self, job: AnswerJob) -> None:
        """The last tab showing `job` here closed: stop it, unless it is followed elsewhere."""
        job.cancel()

    def runs_elsewhere(self, key: Key) -> bool:
        """Whether the conversation's answer streams on another instance right now."""
        return False

    def follow(self, answer: RemoteAnswer) -> None:
        """Feed `answer` from where it runs until it ends."""
        raise RuntimeError("no answer runs elsewhere without a shared relay")

    def stop(self, key: Key, *, save: bool = True) -> None:
        """Ask the instance where the conversation's answer runs to stop it."""


def relay_for(conversations: object) -> AnswerRelay:
    """The relay that goes with a conversations backend: Redis Streams with Redis, else this process only."""
    from ui.redis_store import RedisConversations

    if isinstance(conversations, RedisConversations):
        from ui.redis_relay import RedisAnswerRelay

        return RedisAnswerRelay(conversations)
    return AnswerRelay()
