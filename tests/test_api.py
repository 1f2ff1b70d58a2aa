"""`POST /ask`: whole answers, statuses and bad requests in-process (httpx's ASGI transport); streaming,
disconnects and parallel answers on a real server (uvicorn on 127.0.0.1), read with an httpx streaming client."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from llm.embedded import EmbeddedChatModel
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from tests.support.fake_openai import ANSWER, FAILURES, FakeOpenAIServer
from tests.support.models import EchoFake, HeldFake, RecordingFake, ask_in_process, parse_sse
from tests.support.page import wait_for
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


async def test_plain_text_arrives_incrementally_and_exactly() -> None:
    model = HeldFake(pieces=UNICODE_PIECES, rate=0, hold_after=3)
    reads: list[str] = []
    with run_api(model) as url:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("POST", f"{url}/ask", json={"prompt": "hi"}) as response,
        ):
            async for text in response.aiter_text():
                reads.append(text)
                if "".join(reads) == "".join(UNICODE_PIECES[:3]):
                    # The model holds the rest back until released: the first chunks are here before it.
                    await wait_for(lambda: model.holding)
                    model.release()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers  # chunked
    assert "".join(reads) == UNICODE_TEXT
    assert model.ends == ["finished"]


async def test_embedded_model_streams_for_real(gguf_path: str) -> None:
    model = EmbeddedChatModel(model_path=gguf_path, max_tokens=48, temperature=0.0)
    with run_api(model) as url:
        response, reads = await read_plain(url, {"prompt": "Name three rivers."})
    assert response.status_code == 200
    assert len(reads) >= 3
    assert len("".join(reads).split()) >= 3


async def test_sse_events_and_done_figures() -> None:
    pieces = ["Line one\n", "\n", "Line ", "two\r\n", "end"]
    async with ask_in_process(FakeStreamingChatModel(pieces=pieces, rate=0)) as client:
        response = await client.post("/ask", json={"prompt": "hi"}, headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = parse_sse(response.text)
    assert events[:-1] == [("message", data) for data in ["Line one\n", "\n", "Line ", "two\n", "end"]]
    assert events[-1][0] == "done"
    figures = json.loads(events[-1][1])
    assert (figures["chunks"], figures["chars"], figures["status"]) == (5, len("".join(pieces)), "done")
    assert figures["time_to_first_chunk_s"] >= 0 and figures["duration_s"] > 0


@pytest.mark.parametrize("name", [name for name, failure in FAILURES.items() if not failure.partial])
async def test_provider_failure_before_the_first_chunk_sets_the_status_and_hides_the_key(
    fake_openai: FakeOpenAIServer, name: str
) -> None:
    failure = FAILURES[name]
    options = {"base_url": fake_openai.base_url, "api_key": CANARY, "idle_timeout": 0.5}
    model = make_model(f"openai:{name}", Settings(**options))
    async with ask_in_process(model, f"openai:{name}", **options) as client:
        response = await client.post("/ask", json={"prompt": "hi"})
        sse = await client.post("/ask", json={"prompt": "hi"}, headers={"Accept": "text/event-stream"})
    message = failure.message(f"the server at {fake_openai.base_url}")
    assert (response.status_code, response.json()) == (failure.status, {"error": message})
    assert (sse.status_code, parse_sse(sse.text)) == (failure.status, [("error", json.dumps({"error": message}))])
    assert CANARY not in response.text + sse.text
    assert fake_openai.requests[0]["_headers"]["authorization"] == f"Bearer {CANARY}"  # it was really sent


async def test_unreachable_server_is_503_and_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    async with ask_in_process(make_model("openai:x", Settings(base_url=url)), "openai:x", base_url=url) as client:
        response = await client.post("/ask", json={"prompt": "hi"})
    assert response.status_code == 503
    assert response.json() == {
        "error": f"Could not connect to the server at {url}. Check that the server is running and the URL is right."
    }


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"{not json", JSON, 422, 'The body is not valid JSON. Send {"prompt": "your question"}.'),
        (b"", JSON, 422, "The body is not valid JSON."),
        (b'{"history": []}', JSON, 422, "prompt: Field required"),
        (b'{"prompt": ""}', JSON, 422, "prompt: Value error, prompt is empty or only whitespace"),
        (b'{"prompt": "  \\n "}', JSON, 422, "prompt: Value error, prompt is empty or only whitespace"),
        (b'{"prompt": 42}', JSON, 422, "prompt: Input should be a valid string"),
        (b'{"prompt": null}', JSON, 422, "prompt: Input should be a valid string"),
        (b'{"prompt": ["hi"]}', JSON, 422, "prompt: Input should be a valid string"),
        (b'{"prompt": "hi", "history": "earlier"}', JSON, 422, "history: Input should be a valid list"),
        (
            b'{"prompt": "hi", "history": [{"role": "robot", "content": "x"}]}',
            JSON,
            422,
            "history.0.role: Input should be",
        ),
        (b'{"prompt": "hi", "history": [{"role": "user"}]}', JSON, 422, "history.0.content: Field required"),
        (b'{"prompt": "hi", "system": 3}', JSON, 422, "system: Input should be a valid string"),
        (b'{"prompt": "hi", "temperature": "warm"}', JSON, 422, "temperature: Input should be a valid number"),
        (b'{"prompt": "hi", "temperature": 9}', JSON, 422, "temperature: Input should be less than or equal to 2"),
        (b'{"prompt": "hi", "max_tokens": 0}', JSON, 422, "max_tokens: Input should be greater than 0"),
        (b'{"prompt": "hi", "colour": "blue"}', JSON, 422, "colour: Extra inputs are not permitted"),
        (
            b'{"prompt": "hi", "model": "openai:gpt-4o"}',
            JSON,
            422,
            "This server does not offer the model 'openai:gpt-4o'. It offers: test.",
        ),
        (b'["prompt"]', JSON, 422, "body: Input should be a valid dictionary"),
        (
            json.dumps({"prompt": "x" * 201}).encode(),
            JSON,
            413,
            "The prompt and history are too long (201 characters; the limit is 200).",
        ),
        (
            json.dumps({"prompt": "hi", "history": [{"role": "user", "content": "y" * 300}]}).encode(),
            JSON,
            413,
            "The prompt and history are too long (302 characters; the limit is 200).",
        ),
        (b"x" * 5_000_000, JSON, 413, "The request is too large: prompt and history may have at most 200 characters."),
        (
            b"prompt=hi",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "Send the request as JSON with 'Content-Type: application/json'.",
        ),
        (b'{"prompt": "hi"}', {"Content-Type": "text/plain"}, 415, "Send the request as JSON"),
        (b'{"prompt": "hi"}', {}, 415, "Send the request as JSON"),
    ],
)
async def test_bad_requests_get_a_clear_status_and_the_next_request_works(
    content: bytes, headers: dict, status: int, words: str
) -> None:
    model = RecordingFake(pieces=["ok"], rate=0)
    async with ask_in_process(model, max_prompt_chars=200) as client:
        bad = await client.post("/ask", content=content, headers=headers)
        good = await client.post("/ask", json={"prompt": "hi"})
    assert bad.status_code == status
    assert words in bad.json()["error"]
    assert len(model.calls) == 1, "a bad request reached the model"
    assert (good.status_code, good.text) == (200, "ok")


async def test_a_prompt_at_the_limit_is_accepted() -> None:
    async with ask_in_process(EchoFake(rate=0), max_prompt_chars=200) as client:
        response = await client.post("/ask", json={"prompt": "x" * 200})
    assert (response.status_code, response.text) == (200, "x" * 200)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_other_methods_get_405_and_are_told_to_post(method: str) -> None:
    model = RecordingFake(pieces=["ok"], rate=0)
    async with ask_in_process(model) as client:
        response = await client.request(method, "/ask")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"  # the body's shape is being changed elsewhere: not asserted here
    assert model.calls == []


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
        await wait_for(lambda: bool(fake_openai.times("closed", "slow")), limit=1.0)  # within 1 s
        assert fake_openai.times("closed", "slow")[0] - closed_at < 1.0


async def test_cors_preflight() -> None:
    model = FakeStreamingChatModel(pieces=["ok"], rate=0)
    async with ask_in_process(model, cors_origins=["https://app.example.org"]) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        local = await client.options("/ask", headers={"Origin": "http://localhost:5173", **preflight})
        listed = await client.options("/ask", headers={"Origin": "https://app.example.org", **preflight})
        refused = await client.options("/ask", headers={"Origin": "https://evil.example", **preflight})
        answer = await client.post("/ask", json={"prompt": "hi"}, headers={"Origin": "http://127.0.0.1:3000"})
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert listed.headers["access-control-allow-origin"] == "https://app.example.org"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert answer.headers["access-control-allow-origin"] == "http://127.0.0.1:3000" and answer.text == "ok"


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
    async with ask_in_process(model) as client:
        response = await client.post("/ask", json={"prompt": "hi", "history": [{"role": "user", "content": "a"}]})
    assert response.text == ANSWER
    sent = fake_openai.requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [("user", "a"), ("user", "hi")]
    assert sent[0]["role"] == "system" and sent[0]["content"] == Settings().system_prompt


async def test_sse_says_how_many_earlier_messages_were_left_out() -> None:
    model = RecordingFake(pieces=["fits ", "now"], rate=0)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 400} for i in range(6)]
    payload = {"prompt": "the newest question", "history": history}
    async with ask_in_process(model, context_tokens=1000, max_tokens=200) as client:
        response = await client.post("/ask", json=payload, headers={"Accept": "text/event-stream"})
        plain = await client.post("/ask", json=payload)
    events = parse_sse(response.text)
    assert events[0][0] == "context"
    dropped = json.loads(events[0][1])["dropped_messages"]
    assert dropped == 6 - (len(model.calls[0]) - 2)  # the system prompt and the question are always sent
    assert dropped >= 4
    assert [data for event, data in events if event == "message"] == ["fits ", "now"]
    assert json.loads(events[-1][1])["dropped_messages"] == dropped
    assert plain.text == "fits now"  # the plain body stays exactly the answer
