"""The benchmark's chat model: a deterministic Markdown answer of N word chunks, paced on an absolute schedule.

Load it in Rivulet with `--model py:bench.bench_model:model_from_env` (from the repository root); the naive
page imports it directly. The answer's last chunk is the word `ENDMARK`, so a browser can tell when the whole
answer is shown.

Settings (environment, read when the model is built; a prompt may override them per answer):
  BENCH_CHUNKS     number of chunks (default 5000)
  BENCH_RATE       chunks per second, 0 = as fast as possible (default 0)
  BENCH_MODEL_LOG  a JSON-lines file; each answer appends {"kind": "done", "tag", "t_first", "t_last", ...}
                   with wall-clock (`time.time()`) timestamps of its first and last chunk, and at most once a
                   second {"kind": "progress", "emitted": i} while it streams.

A prompt containing `[bench chunks=N rate=R tag=T]` (any subset) overrides chunks and rate for that answer
and labels its log lines with T (the benchmark uses it to match tabs with their model logs).

Issue 13's long single blocks (bench/long_blocks.py): `[bench shape=code lines=4000]` streams one fenced Python
block of 4,000 lines, `[bench shape=table rows=1000]` one Markdown table of 1,000 rows, each followed by ENDMARK
(`chunks` is then ignored: the shape decides how many chunks there are).

Pacing: chunk i is released at t0 + i / rate, whatever the consumer did before (an absolute schedule: a
slow consumer is not punished twice, and jitter does not accumulate). With rate 0 the async stream
still awaits `asyncio.sleep(0)` after each chunk, like a network stream between two reads.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from bench.long_blocks import SHAPES, shape_chunks

SENTINEL = "ENDMARK"
_OPTIONS = re.compile(r"\[bench([^\]]*)\]")

_VOCAB = [
    "river",
    "stream",
    "delta",
    "current",
    "channel",
    "bank",
    "water",
    "flow",
    "source",
    "mouth",
    "estuary",
    "rapids",
    "meander",
    "basin",
    "valley",
    "tributary",
    "spring",
    "brook",
    "creek",
    "lake",
    "ocean",
    "tide",
    "harbor",
    "bridge",
    "ferry",
    "boat",
    "paddle",
    "oar",
    "sail",
    "wind",
    "rain",
    "cloud",
    "storm",
    "thunder",
    "sunlight",
    "morning",
    "evening",
    "shadow",
    "stone",
    "pebble",
    "sand",
    "gravel",
    "reed",
    "willow",
    "alder",
    "moss",
    "fern",
]

_CODE_LINES = [
    ["async", "def", "stream(model,", "prompt):\n"],
    ["    text", "=", '""\n'],
    ["    async", "for", "chunk", "in", "model.astream(prompt):\n"],
    ["        text", "+=", "chunk.content\n"],
    ["        yield", "chunk.content\n"],
]


def _word(i: int) -> str:
    return _VOCAB[(i * 13 + i // 7) % len(_VOCAB)]


def _blocks() -> Iterator[list[str]]:
    """An endless Markdown document as blocks of word chunks (each chunk keeps its trailing separator)."""
    w = 0
    section = 0
    while True:
        section += 1
        yield ["## ", "Part ", f"{section}\n\n"]
        for paragraph in range(2):
            words = []
            for j in range(45):
                word = _word(w)
                w += 1
                if j == 0:
                    word = word.capitalize()
                if j in (9, 30) and paragraph == 0:
                    word = f"**{word}**"
                if j in (14, 33):
                    word += ","
                words.append(word + (".\n\n" if j == 44 else " "))
            yield words
        items: list[str] = []
        for _ in range(4):
            items.append("- ")
            for j in range(7):
                items.append(_word(w) + ("\n" if j == 6 else " "))
                w += 1
        items[-1] += "\n"
        yield items
        if section % 3 == 0:
            code = ["```python\n"]
            for line in _CODE_LINES:
                code += [piece if piece.endswith("\n") else piece + " " for piece in line]
            code.append("```\n\n")
            yield code


def make_chunks(n: int) -> list[str]:
    """Exactly `n` chunks; the last is the sentinel, at the end of a plain closing paragraph."""
    if n <= 1:
        return [SENTINEL]
    chunks: list[str] = []
    reserve = 8  # room for a short closing paragraph, never inside a list or a code fence
    for block in _blocks():
        if len(chunks) + len(block) > n - reserve:
            break
        chunks.extend(block)
    i = 0
    while len(chunks) < n - 1:
        word = _word(100_000 + i)
        chunks.append(("Finally " if i == 0 else "") + word + " ")
        i += 1
    chunks.append(SENTINEL)
    return chunks[:n] if len(chunks) > n else chunks


def full_text(n: int) -> str:
    return "".join(make_chunks(n))


def parse_options(text: str) -> dict[str, Any]:
    """`[bench chunks=N rate=R tag=T shape=S lines=L rows=R]` in a prompt -> {"chunks": N, "rate": R, ...}."""
    found: dict[str, Any] = {}
    match = _OPTIONS.search(text or "")
    if not match:
        return found
    for part in match.group(1).split():
        key, _, value = part.partition("=")
        if key == "chunks":
            found["chunks"] = int(value)
        elif key == "rate":
            found["rate"] = float(value)
        elif key == "tag":
            found["tag"] = value
        elif key == "shape" and value in SHAPES:
            found["shape"] = value
        elif key in ("lines", "rows"):
            found["size"] = int(value)
    return found


def answer_chunks(options: dict[str, Any], default_chunks: int) -> list[str]:
    """The chunks an answer with these parsed prompt options streams (a shape, or `chunks` of Markdown)."""
    if options.get("shape"):
        return shape_chunks(options["shape"], options.get("size", 2000))
    return make_chunks(options.get("chunks", default_chunks))


class BenchChatModel(BaseChatModel):
    """Streams `make_chunks(chunks)` at `rate` chunks/s (0: as fast as possible) and logs its timing."""

    chunks: int = Field(5000, ge=1)
    rate: float = Field(0.0, ge=0)
    log_path: str | None = None

    @property
    def _llm_type(self) -> str:
        return "rivulet-bench"

    def _plan(self, messages: list[BaseMessage]) -> tuple[list[str], float, str | None]:
        prompt = messages[-1].text if messages else ""
        options = parse_options(prompt)
        return answer_chunks(options, self.chunks), options.get("rate", self.rate), options.get("tag")

    def _write(self, record: dict[str, Any]) -> None:
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks, _, _ = self._plan(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="".join(chunks)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        chunks, rate, tag = self._plan(messages)
        clock = _Clock(self, tag, len(chunks), rate, "sync")
        for i, text in enumerate(chunks):
            if rate > 0:
                delay = clock.t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            clock.tick(i)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        clock.done(sum(map(len, chunks)))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks, rate, tag = self._plan(messages)
        clock = _Clock(self, tag, len(chunks), rate, "async")
        completed = False
        try:
            for i, text in enumerate(chunks):
                if rate > 0:
                    await asyncio.sleep(max(clock.t0 + i / rate - time.perf_counter(), 0))
                else:
                    await asyncio.sleep(0)  # a network-backed stream yields to the loop between two reads
                clock.tick(i)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    await run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            completed = True
        finally:
            clock.done(sum(map(len, chunks)), completed=completed)


class _Clock:
    """Timestamps of one stream: first and last chunk, progress once a second."""

    def __init__(self, model: BenchChatModel, tag: str | None, n: int, rate: float, mode: str) -> None:
        self.model, self.tag, self.n, self.rate, self.mode = model, tag, n, rate, mode
        self.t_call = time.time()
        self.t0 = time.perf_counter()
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.emitted = 0
        self._progress_at = self.t_call

    def tick(self, i: int) -> None:
        now = time.time()
        if i == 0:
            self.t_first = now
        if i == self.n - 1:
            self.t_last = now
        self.emitted = i + 1
        if now - self._progress_at >= 1.0:
            self._progress_at = now
            self.model._write({"kind": "progress", "tag": self.tag, "emitted": self.emitted, "t": now})

    def done(self, chars: int, completed: bool = True) -> None:
        self.model._write(
            {
                "kind": "done" if completed else "stopped",
                "tag": self.tag,
                "t_call": self.t_call,
                "t_first": self.t_first,
                "t_last": self.t_last,
                "t_end": time.time(),
                "n": self.n,
                "emitted": self.emitted,
                "chars": chars,
                "rate": self.rate,
                "mode": self.mode,
                "pid": os.getpid(),
            }
        )


def model_from_env() -> BenchChatModel:
    """The model Rivulet loads with `--model py:bench.bench_model:model_from_env`."""
    return BenchChatModel(
        chunks=int(os.environ.get("BENCH_CHUNKS", "5000")),
        rate=float(os.environ.get("BENCH_RATE", "0")),
        log_path=os.environ.get("BENCH_MODEL_LOG") or None,
    )


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    print(full_text(count))
