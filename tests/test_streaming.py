"""`stream_answer`: the one loop, against the fake model and a misbehaving OpenAI-style server."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llm.conversation import Message
from llm.errors import ProviderError
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from llm.streaming import AnswerStats, build_messages, stream_answer
from tests.support.fake_openai import ANSWER, FakeOpenAIServer


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


def _model(server: FakeOpenAIServer, name: str, **options: float) -> object:
    return make_model(f"openai:{name}", Settings(base_url=server.base_url, **options))


async def collect(model: object, stats: AnswerStats | None = None) -> list[str]:
    return [chunk async for chunk in stream_answer(model, "hi", stats=stats, where="the test server")]  # type: ignore[arg-type]


async def test_openai_compatible_stream_with_usage(fake_openai: FakeOpenAIServer) -> None:
    stats = AnswerStats()
    chunks = await collect(_model(fake_openai, "ok"), stats)
    assert "".join(chunks) == ANSWER and len(chunks) > 10
    assert stats.output_tokens == len(chunks)
    assert fake_openai.requests[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("auth", "auth", "refused the API key"),
        ("forbidden", "auth", "denied access"),
        ("notfound", "not_found", "does not know this model"),
        ("ratelimit", "rate_limit", "Retry after 7 s"),
        ("error500", "server_error", "failed with an error (500)"),
        ("error503", "server_error", "failed with an error (503)"),
    ],
)
async def test_provider_statuses_become_human_sentences(
    fake_openai: FakeOpenAIServer, name: str, kind: str, words: str
) -> None:
    stats = AnswerStats()
    with pytest.raises(ProviderError) as info:
        await collect(_model(fake_openai, name), stats)
    assert info.value.kind == kind
    assert words in str(info.value)
    assert "Traceback" not in str(info.value) and "fake " not in str(info.value)
    assert stats.status == "error" and stats.error == str(info.value)


async def test_stream_cut_mid_answer_keeps_the_partial(fake_openai: FakeOpenAIServer) -> None:
    got: list[str] = []
    with pytest.raises(ProviderError, match="broke off") as info:
        async for chunk in stream_answer(_model(fake_openai, "cut"), "hi", where="the test server"):  # type: ignore[arg-type]
            got.append(chunk)
    assert got == ["Streaming ", "works: ", "every "]
    assert info.value.kind == "cut"


async def test_stalled_stream_hits_the_idle_timeout(fake_openai: FakeOpenAIServer) -> None:
    got: list[str] = []
    with pytest.raises(ProviderError, match="stopped sending") as info:
        async for chunk in stream_answer(_model(fake_openai, "stall", idle_timeout=0.5), "hi"):  # type: ignore[arg-type]
            got.append(chunk)
    assert got == ["Hello "]
    assert info.value.kind == "timeout"


async def test_server_that_never_answers_times_out(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ProviderError, match=r"did not answer in time|stopped sending") as info:
        await collect(_model(fake_openai, "hang", idle_timeout=0.5))
    assert info.value.kind == "timeout"


async def test_malformed_sse_is_reported(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ProviderError, match="malformed stream"):
        await collect(_model(fake_openai, "malformed"))


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
    while stats.chunks < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 5
    while not fake_openai.times("closed", "slow") and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    closed = fake_openai.times("closed", "slow")
    assert closed, "the provider connection stayed open after cancel"
    assert closed[0] - cancelled_at < 1.0
    assert stats.status == "stopped"
