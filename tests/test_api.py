"""`POST /ask` on a real server (uvicorn on 127.0.0.1), read with an httpx streaming client."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from api.ask import ERROR_MARK
from llm.embedded import EmbeddedChatModel
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from tests.support.fake_openai import ANSWER, FakeOpenAIServer
from tests.support.models import RecordingFake
from tests.support.servers import free_port, run_api

UNICODE_PIECES = ["Café ", "crème ", "brûlée, ", "日本語の", "テキスト ", "and ", "emoji ", "🎉🌊 ", "end."]
UNICODE_TEXT = "".join(UNICODE_PIECES)
CANARY = "sk-canary-0123456789abcdef"


async def read_plain(url: str, payload: dict) -> tuple[httpx.Response, list[str]]:
    reads: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client, client.stream("POST", f"{url}/ask", json=payload) as response:
        async for text in response.aiter_text():
            reads.append(text)
    return response, reads


def parse_sse(body: str) -> list[tuple[str, str]]:
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


async def test_plain_text_arrives_incrementally_and_exactly() -> None:
    with run_api(FakeStreamingChatModel(pieces=UNICODE_PIECES, rate=10)) as url:
        response, reads = await read_plain(url, {"prompt": "hi"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers  # chunked
    assert len(reads) >= 3, reads
    assert "".join(reads) == UNICODE_TEXT


async def test_embedded_model_streams_for_real(gguf_path: str) -> None:
    model = EmbeddedChatModel(model_path=gguf_path, max_tokens=48, temperature=0.0)
    with run_api(model) as url:
        response, reads = await read_plain(url, {"prompt": "Name three rivers."})
    assert response.status_code == 200
    assert len(reads) >= 3
    assert len("".join(reads).split()) >= 3


async def test_sse_events_and_done_figures() -> None:
    pieces = ["Line one\n", "\n", "Line ", "two\r\n", "end"]
    with run_api(FakeStreamingChatModel(pieces=pieces, rate=50)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"}, headers={"Accept": "text/event-stream"})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e for e, _ in events] == ["message"] * 5 + ["done"]
    assert "".join(data for _, data in events[:-1]) == "Line one\n\nLine two\nend"
    figures = json.loads(events[-1][1])
    assert figures["chunks"] == 5 and figures["status"] == "done"
    assert figures["time_to_first_chunk_s"] >= 0 and figures["duration_s"] > 0


async def test_sse_error_event_after_the_first_chunk(fake_openai: FakeOpenAIServer) -> None:
    model = make_model("openai:cut", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"}, headers={"Accept": "text/event-stream"})
    events = parse_sse(response.text)
    assert response.status_code == 200
    assert [e for e, _ in events] == ["message"] * 3 + ["error"]
    assert "broke off" in json.loads(events[-1][1])["error"]


async def test_plain_text_error_after_the_first_chunk_ends_with_a_marked_line(fake_openai: FakeOpenAIServer) -> None:
    model = make_model("openai:cut", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url:
        response, reads = await read_plain(url, {"prompt": "hi"})
    body = "".join(reads)
    assert response.status_code == 200
    answer, _, error = body.partition(ERROR_MARK)
    assert answer == "Streaming works: every "
    assert "broke off" in error and error.endswith("\n") and error.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("auth", 401, "refused the API key"),
        ("ratelimit", 429, "rate-limiting"),
        ("error500", 502, "failed with an error"),
        ("notfound", 502, "does not know this model"),
    ],
)
async def test_provider_failure_before_the_first_chunk_sets_the_status(
    fake_openai: FakeOpenAIServer, name: str, status: int, words: str
) -> None:
    model = make_model(f"openai:{name}", Settings(base_url=fake_openai.base_url, api_key=CANARY))
    with run_api(model) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"})
            sse = await client.post(f"{url}/ask", json={"prompt": "hi"}, headers={"Accept": "text/event-stream"})
    assert response.status_code == status
    assert words in response.json()["error"]
    assert CANARY not in response.text
    assert fake_openai.requests[0]["_headers"]["authorization"] == f"Bearer {CANARY}"  # it was really sent
    assert sse.status_code == status
    assert parse_sse(sse.text)[0][0] == "error"


async def test_unreachable_and_timeout_statuses(fake_openai: FakeOpenAIServer) -> None:
    refused = make_model("openai:x", Settings(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    hanging = make_model("openai:hang", Settings(base_url=fake_openai.base_url, idle_timeout=0.5))
    async with httpx.AsyncClient(timeout=30) as client:
        with run_api(refused) as url:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"})
            assert response.status_code == 503 and "Could not connect" in response.json()["error"]
        with run_api(hanging) as url:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"})
            assert response.status_code == 504


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 422, "not valid JSON"),
        (b'{"history": []}', {"Content-Type": "application/json"}, 422, "prompt"),
        (b'{"prompt": 42}', {"Content-Type": "application/json"}, 422, "prompt"),
        (b'{"prompt": "  \\n "}', {"Content-Type": "application/json"}, 422, "whitespace"),
        (
            b'{"prompt": "hi", "history": [{"role": "robot", "content": "x"}]}',
            {"Content-Type": "application/json"},
            422,
            "history",
        ),
        (b'["prompt"]', {"Content-Type": "application/json"}, 422, "not valid"),
        (json.dumps({"prompt": "x" * 300}).encode(), {"Content-Type": "application/json"}, 413, "too long"),
        (
            json.dumps({"prompt": "hi", "history": [{"role": "user", "content": "y" * 300}]}).encode(),
            {"Content-Type": "application/json"},
            413,
            "too long",
        ),
        (b"x" * 5_000_000, {"Content-Type": "application/json"}, 413, "too large"),
        (b"prompt=hi", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"),
        (b'{"prompt": "hi"}', {"Content-Type": "text/plain"}, 415, "JSON"),
    ],
)
async def test_bad_requests_get_a_clear_status_and_the_next_request_works(
    content: bytes, headers: dict, status: int, words: str
) -> None:
    with run_api(FakeStreamingChatModel(pieces=["ok"], rate=0), max_prompt_chars=200) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            bad = await client.post(f"{url}/ask", content=content, headers=headers)
            good = await client.post(f"{url}/ask", json={"prompt": "hi"})
    assert bad.status_code == status
    assert words in bad.json()["error"]
    assert good.status_code == 200 and good.text == "ok"


async def test_disconnect_stops_the_embedded_model(gguf_path: str) -> None:
    model = EmbeddedChatModel(model_path=gguf_path, max_tokens=400, temperature=0.0)
    before = await model.engine.metrics()
    with run_api(model) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("POST", f"{url}/ask", json={"prompt": "Write a long story."}) as response:
                reads = 0
                async for _ in response.aiter_raw():
                    reads += 1
                    if reads == 3:
                        break
            closed_at = time.monotonic()
        while (await model.engine.metrics())["requests_processing"] > 0:
            assert time.monotonic() - closed_at < 1.0, "generation went on for more than 1 s after the disconnect"
        predicted = (await model.engine.metrics())["tokens_predicted_total"] - before["tokens_predicted_total"]
        assert predicted < 100, f"{predicted} of 400 tokens generated though the client left after 3 reads"


async def test_disconnect_closes_the_upstream_request(fake_openai: FakeOpenAIServer) -> None:
    model = make_model("openai:slow", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            async with client.stream("POST", f"{url}/ask", json={"prompt": "hi"}) as response:
                reads = 0
                async for _ in response.aiter_raw():
                    reads += 1
                    if reads == 3:
                        break
            closed_at = time.monotonic()
        while not fake_openai.times("closed", "slow"):
            assert time.monotonic() - closed_at < 1.0, "the upstream request stayed open for more than 1 s"
            await asyncio.sleep(0.01)


async def test_cors_preflight() -> None:
    with run_api(FakeStreamingChatModel(pieces=["ok"], rate=0), cors_origins=["https://app.example.org"]) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
            local = await client.options(f"{url}/ask", headers={"Origin": "http://localhost:5173", **preflight})
            listed = await client.options(f"{url}/ask", headers={"Origin": "https://app.example.org", **preflight})
            refused = await client.options(f"{url}/ask", headers={"Origin": "https://evil.example", **preflight})
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert listed.headers["access-control-allow-origin"] == "https://app.example.org"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_concurrent_requests_stream_in_parallel() -> None:
    first_chunk: list[float] = []
    finished: list[float] = []

    async def one(client: httpx.AsyncClient, url: str) -> str:
        parts = []
        async with client.stream("POST", f"{url}/ask", json={"prompt": "hi"}) as response:
            async for text in response.aiter_text():
                if not parts:
                    first_chunk.append(time.monotonic())
                parts.append(text)
        finished.append(time.monotonic())
        return "".join(parts)

    model = FakeStreamingChatModel(pieces=UNICODE_PIECES, rate=20)
    with run_api(model) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            bodies = await asyncio.gather(*(one(client, url) for _ in range(5)))
    assert bodies == [UNICODE_TEXT] * 5
    assert max(first_chunk) < min(finished), "requests were served one after another"


async def test_openai_answer_through_ask(fake_openai: FakeOpenAIServer) -> None:
    model = make_model("openai:ok", Settings(base_url=fake_openai.base_url))
    with run_api(model) as url:
        _, reads = await read_plain(url, {"prompt": "hi", "history": [{"role": "user", "content": "a"}]})
    assert "".join(reads) == ANSWER
    sent = fake_openai.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]


async def test_sse_says_how_many_earlier_messages_were_left_out() -> None:
    model = RecordingFake(pieces=["fits ", "now"], rate=0)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 400} for i in range(6)]
    with run_api(model, context_tokens=1000, max_tokens=200) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{url}/ask",
                json={"prompt": "the newest question", "history": history},
                headers={"Accept": "text/event-stream"},
            )
            plain = await client.post(f"{url}/ask", json={"prompt": "the newest question", "history": history})
    events = parse_sse(response.text)
    assert events[0][0] == "context"
    dropped = json.loads(events[0][1])["dropped_messages"]
    assert dropped == 6 - (len(model.calls[0]) - 2)  # the system prompt and the question are always sent
    assert dropped >= 4
    assert [data for event, data in events if event == "message"] == ["fits ", "now"]
    assert json.loads(events[-1][1])["dropped_messages"] == dropped
    assert plain.text == "fits now"  # the plain body stays exactly the answer
