"""A small misbehaving OpenAI-compatible server for tests: real HTTP and SSE on 127.0.0.1.

The requested model name picks the behaviour:
  ok          streams `ANSWER` in word chunks, then a usage chunk and [DONE]
  slow        streams a chunk every 0.1 s for a long time (for stop/disconnect tests)
  auth        401 with an OpenAI-style error body
  forbidden   403
  notfound    404
  ratelimit   429 with `Retry-After: 7`
  error500    500
  error503    503
  cut         three chunks, then the connection drops mid-stream (no final chunk)
  stall       one chunk, then silence (for the idle timeout)
  hang        reads the request, never answers (for the read/connect timeout)
  malformed   one chunk, then a `data:` line that is not JSON
  reasoning-content  `REASONING` in `reasoning_content` deltas (DeepSeek, llama.cpp), then `ANSWER` as content
  reasoning-field    the same in `reasoning` deltas (newer vLLM, OpenRouter)
  think-split        `<think>REASONING</think>ANSWER` inline, after leading whitespace, tags split mid-tag
  think-unclosed     `<think>REASONING` inline, never closed (the answer is empty)
Every request and every client disconnect is recorded with a timestamp in `events`.

`FAILURES` is the one table of what each failing name must become: the human sentence, the error kind,
the status of `POST /ask` and the text that arrived first. The page, CLI, API and streaming tests all read it.
`REASONING_FORMS` is the same for the reasoning names: the deltas streamed, the reasoning and the answer expected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field

from llm.errors import ErrorKind

ANSWER = "Streaming works: every word arrives on its own, in order, until the very end."
#: The chunk `stall` and `malformed` send before they misbehave.
HELLO = "Hello "
#: How many word chunks of `ANSWER` `cut` sends before it drops the connection.
CUT_AFTER = 3


def words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p + " " for p in parts[:-1]] + [parts[-1]]


@dataclass(frozen=True)
class Failure:
    """What one failing model name must become, on every face (page, CLI, `/ask`, `stream_answer`)."""

    sentence: str  # the human message; {where} is the provider as the app names it
    kind: ErrorKind
    status: int  # of `POST /ask`: the error's own before the first chunk, else 200 (the body ends with the error)
    partial: str = ""  # the text that arrived before the failure

    def message(self, where: str) -> str:
        text = self.sentence.format(where=where)
        return text[:1].upper() + text[1:]


# `hang` and `stall` need a short idle timeout (e.g. `idle_timeout=0.5`), or they take the default 60 s.
FAILURES: dict[str, Failure] = {
    "auth": Failure("{where} refused the API key (401). Check OPENAI_API_KEY (or RIVULET_API_KEY).", "auth", 401),
    "forbidden": Failure("{where} denied access (403). Check that your API key may use this model.", "auth", 401),
    "notfound": Failure("{where} does not know this model (404). Check the model name in --model.", "not_found", 502),
    "ratelimit": Failure("{where} is rate-limiting requests (429). Retry after 7 s.", "rate_limit", 429),
    "error500": Failure(
        "{where} failed with an error (500). Try again; if it persists, check the server's logs.", "server_error", 502
    ),
    "error503": Failure(
        "{where} failed with an error (503). Try again; if it persists, check the server's logs.", "server_error", 502
    ),
    "hang": Failure(
        "{where} did not answer in time. Check that it is running, or raise --idle-timeout.", "timeout", 504
    ),
    "stall": Failure(
        "{where} stopped sending for too long, so the answer was cut off. Try again or raise --idle-timeout.",
        "timeout",
        200,
        HELLO,
    ),
    "cut": Failure(
        "The connection to {where} broke off in the middle of the answer. Try again.",
        "cut",
        200,
        "".join(words(ANSWER)[:CUT_AFTER]),
    ),
    "malformed": Failure(
        "{where} sent a malformed stream that could not be read. The answer may be incomplete; try again.",
        "protocol",
        200,
        HELLO,
    ),
}


#: The reasoning the `reasoning-*` and `think-*` names stream before (or instead of) `ANSWER`.
REASONING = "The user wants a test answer. I should reply in one sentence, word by word, and then stop."


@dataclass(frozen=True)
class ReasoningForm:
    """One way a provider streams reasoning: the `delta` objects sent, and what must come out of them."""

    deltas: tuple[dict, ...]
    reasoning: str  # the reasoning text expected, never inside the answer
    answer: str  # the answer text expected, exactly


def _think_deltas(closed: bool) -> tuple[dict, ...]:
    """`<think>REASONING</think>ANSWER` as content after leading whitespace, cut inside both tags."""
    pieces = ["\n ", "<t", "hink>", "\n", *words(REASONING)]
    if closed:
        first, *rest = words(ANSWER)
        pieces += ["\n</thi", "nk", ">\n\n" + first, *rest]
    return tuple({"content": piece} for piece in pieces)


REASONING_FORMS: dict[str, ReasoningForm] = {
    "reasoning-content": ReasoningForm(
        (
            {"role": "assistant", "content": None, "reasoning_content": ""},
            *({"content": None, "reasoning_content": w} for w in words(REASONING)),
            *({"content": w, "reasoning_content": None} for w in words(ANSWER)),
        ),
        REASONING,
        ANSWER,
    ),
    "reasoning-field": ReasoningForm(
        (
            {"role": "assistant", "content": ""},
            *({"reasoning": w} for w in words(REASONING)),
            *({"content": w} for w in words(ANSWER)),
        ),
        REASONING,
        ANSWER,
    ),
    "think-split": ReasoningForm(_think_deltas(closed=True), REASONING, ANSWER),
    "think-unclosed": ReasoningForm(_think_deltas(closed=False), REASONING, ""),
}


def _delta_chunk(delta: dict) -> bytes:
    """One SSE event carrying `delta` as is (with fields that are not in the official API)."""
    body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test"}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return f"data: {json.dumps(body)}\n\n".encode()


def _chunk(content: str | None = None, *, finish: str | None = None, usage: dict | None = None) -> bytes:
    body: dict = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "test"}
    body["choices"] = (
        []
        if usage
        else [{"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}]
    )
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


@dataclass
class FakeOpenAIServer:
    host: str = "127.0.0.1"
    port: int = 0
    events: list[tuple[float, str, str]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            server = self._server

            async def shutdown() -> None:
                server.close()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)  # handlers close their connections

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(5)

    def record(self, kind: str, model: str) -> None:
        self.events.append((time.monotonic(), kind, model))

    def times(self, kind: str, model: str | None = None) -> list[float]:
        return [t for t, k, m in self.events if k == kind and (model is None or m == model)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        model = "?"
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = json.loads(body or b"{}")
            request["_path"] = lines[0].split(" ")[1]
            request["_headers"] = headers
            self.requests.append(request)
            model = str(request.get("model", "ok"))
            self.record("request", model)
            await self._respond(model, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(self, model: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        statuses = {"auth": 401, "forbidden": 403, "notfound": 404, "ratelimit": 429, "error500": 500, "error503": 503}
        if model in statuses:
            status = statuses[model]
            body = json.dumps({"error": {"message": f"fake {model}", "type": model, "code": model}}).encode()
            extra = "Retry-After: 7\r\n" if model == "ratelimit" else ""
            writer.write(
                f"HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"{extra}Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return
        if model == "hang":
            await reader.read()  # until the client gives up
            self.record("closed", model)
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
            b"Cache-Control: no-cache\r\n\r\n"
        )

        async def send(data: bytes) -> None:
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        closed = asyncio.create_task(reader.read())  # returns b"" when the client closes the connection
        closed.add_done_callback(lambda task: task.cancelled() or task.exception())

        async def gone(delay: float) -> bool:
            done, _ = await asyncio.wait({closed}, timeout=delay)
            if done:
                self.record("closed", model)
            return bool(done)

        if model == "slow":
            for index in range(1000):
                await send(_chunk(f"w{index} "))
                if await gone(0.1):
                    return
            return
        if model == "cut":
            for piece in words(ANSWER)[:CUT_AFTER]:
                await send(_chunk(piece))
                await asyncio.sleep(0.02)
            writer.transport.abort()  # drop the connection: no final chunk, no [DONE]
            return
        if model == "stall":
            await send(_chunk(HELLO))
            await gone(3600)
            return
        if model == "malformed":
            await send(_chunk(HELLO))
            await send(b"data: {this is not json\n\n")
            await send(b"data: [DONE]\n\n")
            await send(b"")
            await gone(1)
            return
        deltas = REASONING_FORMS[model].deltas if model in REASONING_FORMS else ()
        for delta in deltas:
            await send(_delta_chunk(delta))
            await asyncio.sleep(0.01)
        for piece in () if deltas else words(ANSWER):
            await send(_chunk(piece))
            await asyncio.sleep(0.01)
        await send(_chunk(finish="stop"))
        await send(_chunk(usage={"prompt_tokens": 5, "completion_tokens": len(words(ANSWER)), "total_tokens": 20}))
        await send(b"data: [DONE]\n\n")
        await send(b"")
        closed.cancel()
