"""Chat models for tests that need to see what the app sends them, and `POST /ask` served in-process for them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field, PrivateAttr

from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from llm.signals import Signal, signal_chunk


class RecordingFake(FakeStreamingChatModel):
    """A fake model that remembers the messages of every call, and how each call's stream ended."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)
    #: Per call, once its stream is over: "finished" (every chunk sent) or "closed" (the consumer stopped it).
    ends: list[Literal["finished", "closed"]] = Field(default_factory=list)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.calls.append(list(messages))
        end: Literal["finished", "closed"] = "closed"
        try:
            async for chunk in super()._astream(messages, *args, **kwargs):
                yield chunk
            end = "finished"
        finally:
            self.ends.append(end)


class ScriptedFake(RecordingFake):
    """Answers call number i with `answers[i % len(answers)]`, in word chunks."""

    answers: list[str] = Field(default_factory=lambda: ["First answer.", "Second answer."])

    def answer_pieces(self) -> list[str]:
        from llm.fake import split_words

        return split_words(self.answers[(len(self.calls) - 1) % len(self.answers)])


HOSTILE = (
    "Harmless start.\n\n"
    "<script>window.__pwned = 'script'</script>\n\n"
    '<img src="x" onerror="window.__pwned = \'img\'">\n\n'
    "[click me](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='a'\">raw link</a>\n\n"
    "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>\n\n"
    '<svg onload="window.__pwned=\'svg\'"><circle r=5 /></svg> <b onmouseover="alert(1)">bold</b>\n\n'
    '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red">overlay</div>\n\n'
    "</script><script>alert('x')</script>\n\n" + "unbroken" * 2500 + "\n\nHarmless end."
)


def hostile() -> FakeStreamingChatModel:
    """Streams model output that tries to run script, open dialogs and break the layout."""
    return FakeStreamingChatModel(text=HOSTILE, rate=200)


def long_markdown() -> FakeStreamingChatModel:
    """A long Markdown answer at a readable pace, for browser tests."""
    return FakeStreamingChatModel(chunks=600, rate=60)


LONG_CODE_LINES = 400
LONG_TABLE_ROWS = 200
LONG_BLOCKS = (
    "A file:\n\n```python\n"
    + "".join(f"value_{i} = {i}  # <i>line {i}</i>\n" for i in range(LONG_CODE_LINES))
    + "```\n\nA table:\n\n| n | square | note |\n|---:|---|---|\n"
    + "".join(f"| {i} | {i * i} | **row** <b>{i}</b> |\n" for i in range(LONG_TABLE_ROWS))
    + "\nThe end.\n"
)


def long_blocks() -> FakeStreamingChatModel:
    """A long code fence and a long table, streamed fast in pieces of a few characters."""
    return FakeStreamingChatModel(pieces=re.findall(r".{1,8}", LONG_BLOCKS, re.S), rate=2000)


MIXED_MARKDOWN = (
    "## Part one\n\n"
    + "A paragraph with **bold words**, *emphasis*, `code <b>` and a [link](https://example.org) that goes on " * 6
    + "to its end.\n\n- an item with **bold**\n- a second item with `code`\n- a third one\n\n"
    + "Between the lists.\n\n3. third\n4. fourth *step*\n\n"
    + "Another paragraph, long enough to take several flushes, with a_snake_case_name and $5 prices. " * 4
    + "\n\nThe end.\n"
)


def mixed_markdown() -> FakeStreamingChatModel:
    """Paragraphs and lists with emphasis, code and links, in pieces of a few characters (issue 13's W2 shape)."""
    return FakeStreamingChatModel(pieces=re.findall(r".{1,5}", MIXED_MARKDOWN, re.S), rate=400)


class EchoFake(RecordingFake):
    """Streams the last user message back, word by word (to check text round-trips exactly)."""

    def answer_pieces(self) -> list[str]:
        from llm.fake import split_words

        return split_words(self.calls[-1][-1].text) if self.calls else []


def echo() -> EchoFake:
    """An `EchoFake` at full speed, for a subprocess: `--model py:tests.support.models:echo`."""
    return EchoFake(rate=0)


class SignallingFake(RecordingFake):
    """Sends `signal` first and holds its answer until `release()` (a model that is loading or waiting)."""

    signal: Signal = Signal.LOADING
    _released: threading.Event = PrivateAttr(default_factory=threading.Event)

    def release(self) -> None:
        self._released.set()

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=signal_chunk(self.signal))
        while not self._released.is_set():
            await asyncio.sleep(0.01)
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


class HeldFake(RecordingFake):
    """Sends its first `hold_after` chunks, then holds the rest until `release()`.

    While it holds, `holding` is set: whatever the consumer has by then was delivered while the
    model was still answering (streaming, not buffering). Thread-safe, for servers in other threads.
    """

    hold_after: int = 1
    _holding: threading.Event = PrivateAttr(default_factory=threading.Event)
    _released: threading.Event = PrivateAttr(default_factory=threading.Event)

    @property
    def holding(self) -> bool:
        return self._holding.is_set()

    def release(self) -> None:
        self._released.set()

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        index = 0
        async for chunk in super()._astream(messages, *args, **kwargs):
            if index == self.hold_after:
                self._holding.set()
                while not self._released.is_set():
                    await asyncio.sleep(0.005)
                self._holding.clear()
            index += 1
            yield chunk


@contextlib.asynccontextmanager
async def ask_in_process(model: BaseChatModel, spec: str = "test", **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """`POST /ask` for `model` as `run_api` serves it, but in this process and event loop (no socket).

    `model` is offered as `spec` (which names the provider in error messages); `options` are settings.
    httpx's ASGI transport hands over a response once it is complete: use it for whole answers,
    statuses and bodies; streaming and disconnects need `run_api`'s real socket.
    """
    from fastapi import FastAPI

    from api.ask import register_api
    from llm.factory import ModelRegistry

    app = FastAPI()
    cors_origins = options.pop("cors_origins", ())
    settings = Settings(model=spec, **options)
    register_api(app, ModelRegistry(settings, preset={spec: model}), settings, cors_origins)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as client:
        yield client


def parse_sse(body: str) -> list[tuple[str, str]]:
    """The (event, data) pairs of a Server-Sent Events body, as a browser's EventSource reads them."""
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((event, "\n".join(data)))
    return events
