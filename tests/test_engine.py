"""The embedded engine for real: a supervised llama.cpp server process on the bundled SmolLM2 model."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from llm.conversation import Message
from llm.embedded import EmbeddedChatModel
from llm.errors import ConfigError, ProviderError
from llm.signals import Signal
from llm.streaming import AnswerStats, stream_answer

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write three sentences about rivers."
LONG_PROMPT = "Write a long story about a river and the people who live beside it."


async def until(condition: Callable[[], bool], limit: float, what: str) -> float:
    """Wait for `condition`; return the seconds it took (fails after `limit`)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit, f"{what} not within {limit} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def model(gguf_path: str) -> EmbeddedChatModel:
    return EmbeddedChatModel(model_path=gguf_path, max_tokens=64, temperature=0.0, seed=1)


async def test_streams_many_chunks_with_the_engines_token_count(model: EmbeddedChatModel) -> None:
    stats = AnswerStats()
    states: list[str] = []
    async for chunk in stream_answer(model, PROMPT, stats=stats):
        states.append((states[-1] if states else "") + chunk)
    assert len(states) >= 10
    assert all(len(a) < len(b) for a, b in itertools.pairwise(states)), "the text grew chunk by chunk"
    assert len(states[-1].split()) >= 5
    assert stats.status == "done"
    assert stats.output_tokens is not None and stats.output_tokens >= stats.chunks - 2  # stream_usage=True


def test_sync_stream_too(model: EmbeddedChatModel) -> None:
    assert len([chunk.text for chunk in model.stream(PROMPT)]) >= 10


def test_the_engine_takes_no_native_or_amx_path(model: EmbeddedChatModel) -> None:
    model.engine.start()
    info = model.engine.system_info  # llama.cpp's own line of the CPU features it was built for
    assert "AVX2 = 1" in info
    assert "AMX" not in info and "AVX512" not in info, info


async def test_event_loop_stays_responsive(model: EmbeddedChatModel) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    chunks = [c async for c in stream_answer(model.model_copy(update={"max_tokens": 128}), PROMPT)]
    done.set()
    await tick
    assert len(chunks) >= 10 and len(gaps) > 20
    assert max(gaps) < 0.1, f"the loop was blocked for {max(gaps):.3f} s"


async def test_two_conversations_stream_at_the_same_time(model: EmbeddedChatModel) -> None:
    long = model.model_copy(update={"max_tokens": 200})
    first_stats, second_stats = AnswerStats(), AnswerStats()
    signals: list[Signal] = []

    async def run(stats: AnswerStats) -> str:
        return "".join([c async for c in stream_answer(long, LONG_PROMPT, stats=stats, on_signal=signals.append)])

    first = asyncio.create_task(run(first_stats))
    await until(lambda: first_stats.chunks >= 1, 60, "the first answer's first chunk")
    second = asyncio.create_task(run(second_stats))
    await until(lambda: second_stats.chunks >= 3, 30, "the second answer's third chunk")
    assert first_stats.ended is None, "the second answer had to wait for the first to end"
    a, b = await asyncio.gather(first, second)
    assert Signal.WAITING not in signals  # two slots: nobody waits
    assert first_stats.status == second_stats.status == "done"
    assert a == b  # same prompt, seed and temperature 0 in two slots: the same answer


async def test_beyond_the_slots_an_answer_says_it_waits(gguf_path: str) -> None:
    single = EmbeddedChatModel(model_path=gguf_path, parallel=1, max_tokens=48, temperature=0.0)
    first_signals: list[Signal] = []
    second_signals: list[Signal] = []
    first_stats, second_stats = AnswerStats(), AnswerStats()

    async def run(stats: AnswerStats, seen: list[Signal]) -> str:
        return "".join([c async for c in stream_answer(single, PROMPT, stats=stats, on_signal=seen.append)])

    first = asyncio.create_task(run(first_stats, first_signals))
    await until(lambda: first_stats.chunks >= 1, 60, "the first chunk")
    assert first_signals == [Signal.LOADING]  # a new engine: the page says the model is loading
    second = asyncio.create_task(run(second_stats, second_signals))
    await until(lambda: bool(second_signals), 5, "the waiting signal")
    assert second_signals == [Signal.WAITING] and second_stats.chunks == 0
    await asyncio.gather(first, second)
    assert second_stats.status == "done" and second_stats.chunks >= 10
    single.engine.stop()


async def test_a_stop_frees_the_slot_within_a_second(model: EmbeddedChatModel) -> None:
    engine = model.engine
    before = await engine.metrics()
    stats = AnswerStats()

    async def consume() -> None:
        async for _ in stream_answer(model.model_copy(update={"max_tokens": 400}), LONG_PROMPT, stats=stats):
            pass

    task = asyncio.create_task(consume())
    await until(lambda: stats.chunks >= 5, 60, "five chunks")
    task.cancel()
    stopped_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    while (await engine.metrics())["requests_processing"] > 0:
        assert time.monotonic() - stopped_at < 1.0, "the engine still generates 1 s after the stop"
    after = await engine.metrics()
    predicted = after["tokens_predicted_total"] - before["tokens_predicted_total"]
    assert stats.status == "stopped"
    assert predicted <= stats.chunks + 20, f"{predicted} tokens generated for {stats.chunks} chunks shown"


async def test_a_killed_engine_keeps_the_partial_answer_and_the_next_one_works(gguf_path: str) -> None:
    model = EmbeddedChatModel(model_path=gguf_path, context_tokens=2048, max_tokens=400, temperature=0.0)
    engine = model.engine
    stats = AnswerStats()
    received: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in stream_answer(model, LONG_PROMPT, stats=stats):
            received.append(chunk)
            if len(received) == 5:
                os.kill(engine.pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert str(caught.value) == "The local model stopped unexpectedly; it is being restarted."
    assert stats.status == "error" and stats.chunks >= 5 and len(received) >= 5
    killed_at = time.monotonic()
    again = AnswerStats()
    text = "".join([c async for c in stream_answer(model.model_copy(update={"max_tokens": 32}), PROMPT, stats=again)])
    assert again.status == "done" and len(text.split()) >= 3
    assert engine.starts == 2
    print(f"first chunk {time.monotonic() - killed_at:.2f} s after the kill (restart included)")
    engine.stop()


async def test_a_long_history_is_trimmed_to_the_context(model: EmbeddedChatModel) -> None:
    history = [
        Message("user" if i % 2 == 0 else "assistant", f"Message {i} about rivers. " + "The river flows on. " * 50)
        for i in range(40)
    ]
    assert sum(len(t.content) for t in history) >= 40_000
    stats = AnswerStats()
    window = model.context_window()
    chunks = [c async for c in stream_answer(model, PROMPT, history=history, stats=stats, context=window)]
    assert stats.status == "done" and len(chunks) >= 5
    assert 0 < stats.dropped_messages < len(history)
    assert stats.dropped_messages % 2 == 0  # whole turns: the kept history starts with a question


async def test_a_question_larger_than_the_context_is_one_sentence(model: EmbeddedChatModel) -> None:
    stats = AnswerStats()
    with pytest.raises(ProviderError, match="too long for the model's context window"):
        async for _ in stream_answer(model, "river " * 6000, stats=stats, context=model.context_window()):
            pass
    assert stats.status == "error"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a model\n", "is not a GGUF model file"), (None, "may be truncated or damaged")],
)
def test_a_bad_file_is_one_sentence(tmp_path: Path, gguf_path: str, content: bytes | None, message: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content if content is not None else Path(gguf_path).read_bytes()[:2_000_000])
    with pytest.raises(ConfigError, match=message):
        EmbeddedChatModel(model_path=str(path)).invoke(PROMPT)


def test_the_engine_ends_when_its_parent_is_killed(gguf_path: str) -> None:
    script = (
        "import sys, time\n"
        "from llm.engine import Engine, EngineConfig\n"
        f"engine = Engine(EngineConfig({gguf_path!r}, context_tokens=512, parallel=1))\n"
        "engine.start()\n"
        "print(engine.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        engine_pid = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert psutil.pid_exists(engine_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        engine = psutil.Process(engine_pid)
        engine.wait(10)  # raises TimeoutExpired if the engine outlives its parent
    finally:
        if parent.poll() is None:
            parent.kill()
