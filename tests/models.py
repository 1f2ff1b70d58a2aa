"""Chat models for tests that need to see what the app sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from llm.fake import FakeStreamingChatModel


class RecordingFake(FakeStreamingChatModel):
    """A fake model that remembers the messages of every call."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.calls.append(list(messages))
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


class ScriptedFake(RecordingFake):
    """Answers call number i with `answers[i % len(answers)]`, in word chunks."""

    answers: list[str] = Field(default_factory=lambda: ["First answer.", "Second answer."])

    def answer_pieces(self) -> list[str]:
        from llm.fake import split_words

        return split_words(self.answers[(len(self.calls) - 1) % len(self.answers)])
