"""`stream_answer`: the one loop, against the fake model and a misbehaving OpenAI-style server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableLambda

from llm.conversation import Message
from llm.errors import ProviderError
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from llm.streaming import AnswerStats, build_messages, stream_answer, stream_parts
from tests.support.fake_openai import ANSWER, FAILURES, FakeOpenAIServer, words
from tests.support.page import wait_for
from tests.support.servers import fresh_python


async def test_chunks_arrive_one_by_one_with_figures() -> None:
    pieces = ["Hello ", "wide ", "wörld ", "日本 ", "🎉"]
    model = FakeStreamingChatModel(pieces=pieces, rate=50)
    stats = AnswerStats()
    seen: list[str] = []
    async for chunk in stream_answer(model, "hi", stats=stats):
        seen.append(chunk)
        assert stats.status == "streaming"
    assert seen == pieces
    assert stats.status == "done"
    assert stats.chunks == 5 and stats.chars == len("".join(pieces))
    assert stats.time_to_first_chunk is not None and stats.chunks_per_second is not None
    assert "5 chunks" in stats.summary()


def test_history_and_system_become_messages() -> None:
    messages = build_messages("third", [Message("user", "first"), Message("assistant", "second")], "be brief")
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    assert [m.text for m in messages] == ["be brief", "first", "second", "third"]


async def test_breaking_out_marks_the_answer_stopped() -> None:
    model = FakeStreamingChatModel(chunks=100, rate=0)
    stats = AnswerStats()
    stream = stream_answer(model, "hi", stats=stats)
    async with contextlib.aclosing(stream):
        async for _ in stream:
            if stats.chunks == 3:
                break
    assert stats.status == "stopped" and stats.chunks == 3


class EndLog(AsyncCallbackHandler):
    """Notes when LangChain's end-of-stream callback runs (after it joined all the chunks)."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.log.append("langchain's end")


async def test_the_answer_is_complete_at_the_model_s_last_chunk_before_langchain_s_end() -> None:
    log: list[str] = []

    async def complete() -> None:
        log.append("complete")

    model = FakeStreamingChatModel(pieces=["Hello ", "<think", "-less world"], rate=0, callbacks=[EndLog(log)])
    async for part in stream_parts(model, "hi", on_complete=complete):
        log.append(part.text)
    # The held-back "<think" (it may start a tag) comes out with the rest before `on_complete`.
    assert "".join(log[:-2]) == "Hello <think-less world" and log[-2:] == ["complete", "langchain's end"]


async def test_a_runnable_s_model_messages_do_not_complete_the_answer() -> None:
    # An agent's first model message may be followed by tool calls and a second one: only the end ends it.
    log: list[str] = []

    async def complete() -> None:
        log.append("complete")

    chain = RunnableLambda(lambda state: state["messages"]) | FakeStreamingChatModel(pieces=["one ", "two"], rate=0)
    assert [part.text async for part in stream_parts(chain, "hi", on_complete=complete)] == ["one ", "two"]
    assert log == []


def _model(server: FakeOpenAIServer, name: str, **options: float) -> object:
    return make_model(f"openai:{name}", Settings(base_url=server.base_url, **options))


WHERE = "the test server"


async def collect(model: object, stats: AnswerStats | None = None) -> list[str]:
    return [chunk async for chunk in stream_answer(model, "hi", stats=stats, where=WHERE)]  # type: ignore[arg-type]


async def test_openai_compatible_stream_with_usage(fake_openai: FakeOpenAIServer) -> None:
    stats = AnswerStats()
    chunks = await collect(_model(fake_openai, "ok"), stats)
    assert chunks == words(ANSWER)
    assert stats.output_tokens == len(chunks)
    assert fake_openai.requests[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("name", FAILURES)
async def test_every_provider_failure_becomes_its_human_sentence(fake_openai: FakeOpenAIServer, name: str) -> None:
    failure = FAILURES[name]
    stats = AnswerStats()
    got: list[str] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in stream_answer(_model(fake_openai, name, idle_timeout=0.5), "hi", stats=stats, where=WHERE):  # type: ignore[arg-type]
            got.append(chunk)
    assert (str(info.value), info.value.kind) == (failure.message(WHERE), failure.kind)
    assert "".join(got) == failure.partial  # what came before the failure was handed on
    assert (stats.status, stats.error, stats.chunks) == ("error", str(info.value), len(got))


async def test_connection_refused_names_the_url() -> None:
    from tests.support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    model = make_model("openai:x", Settings(base_url=url))
    with pytest.raises(ProviderError, match="Could not connect") as info:
        async for _ in stream_answer(model, "hi", where=f"the server at {url}"):
            pass
    assert url in str(info.value) and info.value.kind == "unreachable"


async def test_cancel_closes_the_upstream_request(fake_openai: FakeOpenAIServer) -> None:
    model = _model(fake_openai, "slow")
    stats = AnswerStats()

    async def consume() -> None:
        async for _ in stream_answer(model, "hi", stats=stats):  # type: ignore[arg-type]
            pass

    task = asyncio.create_task(consume())
    await wait_for(lambda: stats.chunks >= 3)
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stats.status == "stopped"
    await wait_for(lambda: bool(fake_openai.times("closed", "slow")), limit=1.0)  # the provider saw it within 1 s
    assert fake_openai.times("closed", "slow")[0] - cancelled_at < 1.0


def test_warm_up_does_the_imports_of_a_first_model_call_before_any_answer() -> None:
    # In a fresh interpreter: langchain-core imports its tracers and langsmith on the first model call (about
    # 130 ms of a server's first answer); after `warm_up` a model call imports nothing more.
    code = (
        "import sys, asyncio\n"
        "from llm.streaming import warm_up, stream_answer\n"
        "from llm.fake import FakeStreamingChatModel\n"
        "warm_up()\n"
        "before = set(sys.modules)\n"
        "async def answer():\n"
        "    return [c async for c in stream_answer(FakeStreamingChatModel(pieces=['a ', 'b']), 'hi')]\n"
        "assert asyncio.run(answer()) == ['a ', 'b']\n"
        "print(sorted(m for m in set(sys.modules) - before if 'langsmith' in m or 'tracers' in m))\n"
    )
    assert fresh_python(code).strip() == "[]"
