"""`stream_from_server` (api/client.py, behind `main.py ask --url`): a real `/ask` on uvicorn, and raw servers
on 127.0.0.1 that misbehave in ways a Rivulet server cannot be made to."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from api.client import stream_from_server
from llm.errors import ProviderError
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from tests.support.fake_openai import FAILURES, FakeOpenAIServer
from tests.support.models import HeldFake, RecordingFake
from tests.support.servers import free_port, run_api

#: How `run_api` names its model in error messages.
RUN_API_MODEL = "the model 'test'"


async def collect(url: str, prompt: str = "hi", **options: object) -> list[str]:
    return [chunk async for chunk in stream_from_server(url, prompt, **options)]  # type: ignore[arg-type]


async def test_chunks_arrive_in_order_while_the_server_still_answers() -> None:
    pieces = ["Über ", "den\n", "\n", "Wolken ", "🌊\r\n", "end"]
    model = HeldFake(pieces=pieces, rate=0, hold_after=2)
    got: list[str] = []
    with run_api(model) as url:
        async for chunk in stream_from_server(url, "hi"):
            got.append(chunk)
            if len(got) == 2:
                assert model.holding, "the first chunks came only after the model had gone on"
                model.release()
    assert got == ["Über ", "den\n", "\n", "Wolken ", "🌊\n", "end"]  # one chunk per event; \r\n is a line end


async def test_the_system_prompt_and_the_options_reach_the_server() -> None:
    model = RecordingFake(pieces=["ok"], rate=0)
    with run_api(model) as url:
        assert await collect(url, "the question", system="Be brief.", options={"temperature": 0.2}) == ["ok"]
        with pytest.raises(ProviderError) as info:
            await collect(url, options={"model": "openai:elsewhere"})
    assert [(m.type, m.text) for m in model.calls[0]] == [("system", "Be brief."), ("human", "the question")]
    assert str(info.value) == "This server does not offer the model 'openai:elsewhere'. It offers: test."
    assert info.value.kind == "remote"
    assert len(model.calls) == 1


async def test_a_failure_before_the_first_chunk_is_the_servers_sentence(fake_openai: FakeOpenAIServer) -> None:
    model = make_model("openai:auth", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url, pytest.raises(ProviderError) as info:
        await collect(url)
    assert (str(info.value), info.value.kind) == (FAILURES["auth"].message(RUN_API_MODEL), "remote")


async def test_an_error_event_after_chunks_keeps_them_and_raises_its_sentence(fake_openai: FakeOpenAIServer) -> None:
    cut = FAILURES["cut"]
    got: list[str] = []
    model = make_model("openai:cut", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url, pytest.raises(ProviderError) as info:
        async for chunk in stream_from_server(url, "hi"):
            got.append(chunk)
    assert "".join(got) == cut.partial
    assert (str(info.value), info.value.kind) == (cut.message(RUN_API_MODEL), "remote")


async def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProviderError) as info:
        await collect(url)
    message = (
        f"Could not connect to the Rivulet server at {url}. Check that the server is running and the URL is right."
    )
    assert (str(info.value), info.value.kind) == (message, "unreachable")


# -- servers that misbehave -------------------------------------------------------------------------------------------
Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@contextlib.asynccontextmanager
async def raw_server(respond: Respond, requests: list[dict] | None = None) -> AsyncIterator[str]:
    """An HTTP server on 127.0.0.1 in this event loop; `respond` writes each whole response by hand."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if requests is not None:
                requests.append({"line": head[0], "headers": headers, "json": json.loads(body or b"{}")})
            await respond(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def cut_after_two_events(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + chunk(b"data: Hello \n\n") + chunk(b"data: wide \n\n"))
    await writer.drain()
    writer.transport.abort()  # no final chunk: the connection is simply gone


async def one_event_then_silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(SSE_HEAD + chunk(b"data: Hello \n\n"))
    await writer.drain()
    await reader.read()  # until the client gives up


async def plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    await writer.drain()


async def proxy_error_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    writer.write(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page) + page
    )
    await writer.drain()


async def test_a_stream_cut_off_keeps_what_came_and_says_it_broke_off() -> None:
    requests: list[dict] = []
    got: list[str] = []
    async with raw_server(cut_after_two_events, requests) as url:
        with pytest.raises(ProviderError) as info:
            async for text in stream_from_server(url, "hi", system="Be brief.", token="tok-123"):
                got.append(text)
    assert got == ["Hello ", "wide "]
    message = f"The connection to the Rivulet server at {url} broke off in the middle of the answer. Try again."
    assert (str(info.value), info.value.kind) == (message, "cut")
    (request,) = requests
    assert request["line"] == "POST /ask HTTP/1.1"
    assert request["headers"]["authorization"] == "Bearer tok-123"
    assert request["headers"]["accept"] == "text/event-stream"
    assert request["json"] == {"prompt": "hi", "system": "Be brief."}


async def test_an_answer_that_is_not_an_event_stream_is_refused() -> None:
    async with raw_server(plain_text) as url:
        with pytest.raises(ProviderError) as info:
            await collect(url)
    message = f"The Rivulet server at {url} did not answer with an event stream. Check the URL."
    assert (str(info.value), info.value.kind) == (message, "protocol")


async def test_an_error_page_without_a_message_gives_its_status() -> None:
    async with raw_server(proxy_error_page) as url:
        with pytest.raises(ProviderError) as info:
            await collect(url)
    assert (str(info.value), info.value.kind) == (f"The Rivulet server at {url} answered with status 502.", "remote")


async def test_a_server_that_never_answers_times_out() -> None:
    async def silence(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with raw_server(silence) as url:
        with pytest.raises(ProviderError) as info:
            await collect(url, read_timeout=0.3)
    message = f"The Rivulet server at {url} did not answer in time. Check that it is running, or raise --idle-timeout."
    assert (str(info.value), info.value.kind) == (message, "timeout")


async def test_a_server_that_goes_silent_mid_answer_is_a_stall() -> None:
    got: list[str] = []
    async with raw_server(one_event_then_silence) as url:
        with pytest.raises(ProviderError) as info:
            async for text in stream_from_server(url, "hi", read_timeout=0.3):
                got.append(text)
    assert got == ["Hello "]
    assert info.value.kind == "timeout"
    assert str(info.value).startswith(f"The Rivulet server at {url} stopped sending for too long")


async def test_a_slow_answer_within_the_timeout_is_not_an_error() -> None:
    pieces = ["one ", "two ", "three"]
    with run_api(FakeStreamingChatModel(pieces=pieces, rate=10)) as url:  # 0.1 s between chunks
        assert await collect(url, read_timeout=1.0) == pieces
