"""The embedded SmolLM2 model, for real: streaming, cancellation, loop responsiveness, sharing."""

from __future__ import annotations

import asyncio
import time

import pytest

from llm.embedded import EmbeddedChatModel
from llm.streaming import AnswerStats, stream_answer

PROMPT = "Write three sentences about rivers."


@pytest.fixture
def model(gguf_path: str) -> EmbeddedChatModel:
    return EmbeddedChatModel(model_path=gguf_path, max_tokens=64, temperature=0.0, seed=1)


async def test_streams_many_chunks(model: EmbeddedChatModel) -> None:
    stats = AnswerStats()
    chunks = [chunk async for chunk in stream_answer(model, PROMPT, stats=stats)]
    assert len(chunks) >= 10
    assert len("".join(chunks).split()) >= 5
    assert stats.status == "done"


def test_sync_stream_too(model: EmbeddedChatModel) -> None:
    chunks = [chunk.text for chunk in model.stream(PROMPT)]
    assert len(chunks) >= 10


async def test_cancel_after_three_chunks_stops_generation(model: EmbeddedChatModel) -> None:
    shared = model.shared
    stats = AnswerStats()

    async def consume() -> None:
        async for _ in stream_answer(model.model_copy(update={"max_tokens": 400}), PROMPT, stats=stats):
            pass

    task = asyncio.create_task(consume())
    while stats.chunks < 3:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after_cancel = shared.tokens_generated
    assert not shared.lock.locked(), "the generation thread still holds the model"
    await asyncio.sleep(0.5)
    assert shared.tokens_generated == after_cancel, "tokens were generated after the cancel"
    assert stats.status == "stopped"


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
    assert len(chunks) >= 10
    assert len(gaps) > 20
    assert max(gaps) < 0.1, f"the loop was blocked for {max(gaps):.3f} s"


async def test_two_conversations_are_serialized_and_the_second_waits(model: EmbeddedChatModel) -> None:
    waited: list[bool] = []
    first_stats, second_stats = AnswerStats(), AnswerStats()

    async def run(prompt: str, stats: AnswerStats, flag: list[bool] | None) -> str:
        on_waiting = (lambda: flag.append(True)) if flag is not None else None
        return "".join([c async for c in stream_answer(model, prompt, stats=stats, on_waiting=on_waiting)])

    first = asyncio.create_task(run(PROMPT, first_stats, None))
    while first_stats.chunks < 1:
        await asyncio.sleep(0.001)
    second = asyncio.create_task(run(PROMPT, second_stats, waited))
    a, b = await asyncio.gather(first, second)
    assert waited == [True]
    assert second_stats.first_chunk_at is not None and first_stats.ended is not None
    assert second_stats.first_chunk_at >= first_stats.ended
    # Same prompt, same seed, temperature 0: serialized runs on one context give the same answer.
    assert a == b
