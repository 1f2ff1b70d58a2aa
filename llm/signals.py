"""Signals a model may send among its chunks: an empty chunk that says what it is waiting for.

Any model can yield `signal_chunk(Signal.WAITING)`; `stream_answer` turns it into a status
and a callback, and never into answer text. The loop knows no provider's own metadata.
"""

from __future__ import annotations

from enum import StrEnum

from langchain_core.messages import AIMessageChunk, BaseMessageChunk

SIGNAL_KEY = "rivulet_signal"


class Signal(StrEnum):
    """What an answer waits for before its first token."""

    LOADING = "loading"  # the model is being loaded (or restarted)
    WAITING = "waiting"  # every slot is busy with other answers


def signal_chunk(signal: Signal) -> AIMessageChunk:
    """An empty message chunk carrying `signal`."""
    return AIMessageChunk(content="", response_metadata={SIGNAL_KEY: signal.value})


def read_signal(chunk: BaseMessageChunk) -> Signal | None:
    """The signal a chunk carries, if any."""
    value = chunk.response_metadata.get(SIGNAL_KEY)
    return Signal(value) if value in Signal._value2member_map_ else None
