"""The one streaming loop: (model, history, prompt) -> typed parts (reasoning, answer, steps), with figures.

`stream_parts` is the loop; `stream_answer` is its answer-only view (the answer's text, never the reasoning,
a `<think>` tag or a tool step). The page, the command line and the HTTP endpoint all consume one of the two.
The model is a LangChain chat model, or any runnable (a chain, a LangGraph agent: see `llm.runnable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable

from llm.context import ContextWindow, fit_messages, surely_fits
from llm.conversation import Message
from llm.errors import RivuletError, humanize
from llm.reasoning import Part, PartSplitter
from llm.runnable import MessageEnd, stream_runnable
from llm.signals import Signal, read_signal
from llm.steps import Step

log = logging.getLogger("rivulet")

Status = Literal["loading", "waiting", "streaming", "done", "stopped", "error"]
#: What answers: a chat model, or any runnable that takes `{"messages": [...]}` (`llm.runnable`).
AnswerSource = BaseChatModel | Runnable[Any, Any]
#: Put between the text of two model messages of one run (before and after a tool call).
MESSAGE_BREAK = "\n\n"


@dataclass
class AnswerStats:
    """Figures of one answer, updated live while it streams.

    `chunks`, `chars` and the first-chunk time count the answer only; the reasoning has its own figures:
    `reasoning_chars`, and its time from its first piece to the first answer piece after it (or to the end).
    """

    started: float = field(default_factory=time.monotonic)
    first_chunk_at: float | None = None
    ended: float | None = None
    chunks: int = 0
    chars: int = 0
    output_tokens: int | None = None
    status: Status = "streaming"
    error: str | None = None
    #: Earlier messages left out so that the conversation fits the model's context window.
    dropped_messages: int = 0
    reasoning_chars: int = 0
    #: When the first reasoning piece came, and when the reasoning ended (moves on while it goes on).
    reasoning_started: float | None = None
    reasoning_ended: float | None = None
    #: Whether the model is reasoning right now: a reasoning piece came last and the answer has not ended.
    thinking: bool = False
    #: Tool calls of an agent's run, started and failed.
    steps: int = 0
    failed_steps: int = 0

    def record(self, text: str) -> None:
        """One piece of the answer."""
        now = time.monotonic()
        if self.first_chunk_at is None:
            self.first_chunk_at = now
        if self.thinking:  # the reasoning lasted until the answer went on
            self.reasoning_ended, self.thinking = now, False
        self.chunks += 1
        self.chars += len(text)

    def record_reasoning(self, text: str) -> None:
        """One piece of the reasoning."""
        now = time.monotonic()
        if self.reasoning_started is None:
            self.reasoning_started = now
        self.reasoning_ended, self.thinking = now, True
        self.reasoning_chars += len(text)

    def finish(self, status: Status, error: str | None = None) -> None:
        self.ended = time.monotonic()
        if self.thinking:  # reasoning until the end: unclosed, stopped or failed while thinking
            self.reasoning_ended, self.thinking = self.ended, False
        self.status = status
        self.error = error

    @property
    def reasoning_s(self) -> float | None:
        """How long the model reasoned ("Thought for 4.2 s"); None when it did not. Live while it thinks."""
        if self.reasoning_started is None:
            return None
        end = time.monotonic() if self.thinking else (self.reasoning_ended or self.reasoning_started)
        return end - self.reasoning_started

    @property
    def time_to_first_chunk(self) -> float | None:
        return None if self.first_chunk_at is None else self.first_chunk_at - self.started

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def chunks_per_second(self) -> float | None:
        """Chunks per second from the first chunk on (the generation rate, not the wait)."""
        if self.first_chunk_at is None or self.chunks < 2:
            return None
        span = (self.ended or time.monotonic()) - self.first_chunk_at
        return self.chunks / span if span > 0 else None

    @property
    def tokens_per_second(self) -> float | None:
        if self.output_tokens is None or self.first_chunk_at is None:
            return None
        span = (self.ended or time.monotonic()) - self.first_chunk_at
        return self.output_tokens / span if span > 0 else None

    def summary(self) -> str:
        """A short human line: '42 chunks · 1.3 s · 31.5 chunks/s · first after 0.21 s'."""
        return figures_line(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "time_to_first_chunk_s": _round(self.time_to_first_chunk),
            "duration_s": _round(self.elapsed),
            "chunks": self.chunks,
            "chars": self.chars,
            "output_tokens": self.output_tokens,
            "chunks_per_s": _round(self.chunks_per_second),
            "tokens_per_s": _round(self.tokens_per_second),
            "dropped_messages": self.dropped_messages,
            **(
                {"reasoning_chars": self.reasoning_chars, "reasoning_s": _round(self.reasoning_s)}
                if self.reasoning_chars
                else {}
            ),
            **({"steps": self.steps, "failed_steps": self.failed_steps} if self.steps else {}),
        }


def figures_line(figures: Mapping[str, Any]) -> str:
    """The one human form of an answer's figures (live or saved): chunks, tokens, time, rate, first chunk.

    The rate is tokens/s when the provider reports tokens, else chunks/s, from the first chunk
    to the end (the generation speed, not the wait); the README states the same definition.
    """
    parts: list[str] = []
    if chunks := figures.get("chunks"):
        parts.append(f"{chunks} chunk{'s' if chunks != 1 else ''}")
        if figures.get("output_tokens"):
            parts.append(f"{figures['output_tokens']} tokens")
        if figures.get("duration_s") is not None:
            parts.append(f"{figures['duration_s']:.1f} s")
        rate = figures.get("tokens_per_s") or figures.get("chunks_per_s")
        if rate:
            parts.append(f"{rate:.1f} {'tokens' if figures.get('tokens_per_s') else 'chunks'}/s")
        if figures.get("time_to_first_chunk_s") is not None:
            parts.append(f"first after {figures['time_to_first_chunk_s']:.2f} s")
    if steps := figures.get("steps"):
        failed = f" ({figures['failed_steps']} failed)" if figures.get("failed_steps") else ""
        parts.append(f"{steps} tool call{'s' if steps != 1 else ''}{failed}")
    if dropped := figures.get("dropped_messages"):
        parts.append(f"{dropped} earlier message{'s' if dropped != 1 else ''} left out to fit the model's context")
    return " · ".join(parts)


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def build_messages(prompt: str, history: Iterable[Message] = (), system: str | None = None) -> list[BaseMessage]:
    """The LangChain messages for a prompt after `history`, led by an optional system prompt."""
    messages: list[BaseMessage] = [SystemMessage(system)] if system else []
    for turn in history:
        messages.append(HumanMessage(turn.content) if turn.role == "user" else AIMessage(turn.content))
    messages.append(HumanMessage(prompt))
    return messages


def warm_up() -> None:
    """Do now what langchain-core does on the first model call of a process: import its tracers and langsmith.

    That took about 130 ms of the event loop in a server's first answer (measured with py-spy in `bench.page`'s
    W1), before the model was even called; a server calls this once before it serves.
    """
    try:
        AsyncCallbackManager.configure()
    except Exception:  # e.g. a LangSmith setting it rejects: the first answer reports it, as it did before
        log.debug("langchain-core's callback set-up failed at start", exc_info=True)


async def stream_parts(
    model: AnswerSource,
    prompt: str,
    *,
    history: Sequence[Message] = (),
    system: str | None = None,
    stats: AnswerStats | None = None,
    options: Mapping[str, Any] | None = None,
    context: ContextWindow | None = None,
    on_signal: Callable[[Signal], None] | None = None,
    on_complete: Callable[[], Awaitable[None]] | None = None,
    where: str = "the model provider",
) -> AsyncIterator[Part]:
    """Yield the answer's parts (reasoning, answer text, tool steps) as they are produced, with figures in `stats`.

    One `PartSplitter` per model message reads reasoning wherever the provider puts it (`llm.reasoning`); a
    text part is never empty. A runnable's tool calls come as step parts, each when it starts and when it
    ends, its `at` the answer characters before it; the text of two model messages is parted by a blank line.
    `options` go to a chat model's call (e.g. `temperature`, `max_tokens`); a runnable sets its own. With a
    `context` window, the oldest turns are left out until the conversation fits (counted in
    `stats.dropped_messages`). A model's signals (loading, waiting) set `stats.status` and call `on_signal`.
    A chat model's answer is complete at its last chunk (`chunk_position="last"`), before LangChain joins all the
    chunks for its callbacks (about 20 ms at 5,000 chunks): the text is yielded and `on_complete` awaited then.
    Provider failures are raised as `RivuletError` with a human message (`where` names the provider in it).
    Closing or cancelling the consumer closes the provider stream at once.
    """
    stats = stats if stats is not None else AnswerStats()
    messages = build_messages(prompt, history, system)
    try:
        if context is not None and not surely_fits(messages, context):
            # Counting may start the local engine and calls its tokenizer: off the event loop.
            messages, stats.dropped_messages = await asyncio.to_thread(fit_messages, messages, context)
        # A runnable's model messages each end with a last chunk; only a chat model's ends the answer.
        ends_answer = isinstance(model, BaseChatModel)
        if ends_answer:
            stream: AsyncIterator[Any] = model.astream(messages, **dict(options or {}))
        else:
            stream = stream_runnable(model, messages)
    except RivuletError as exc:
        stats.finish("error", str(exc))
        raise
    except Exception as exc:  # e.g. the local engine's tokenizer did not answer
        error = humanize(exc, where=where)
        stats.finish("error", str(error))
        raise error from exc
    splitter = PartSplitter()
    step_at: dict[str, int] = {}  # where each started step stands in the answer
    part_next = False  # a step or a message end came since the last answer text

    def record(parts: list[Part]) -> list[Part]:
        nonlocal part_next
        if part_next and stats.chars and any(p.kind == "answer" for p in parts):
            parts = [Part("answer", MESSAGE_BREAK), *parts]
        for part in parts:
            stats.status = "streaming"
            if part.kind == "answer":
                stats.record(part.text)
                part_next = False
            else:
                stats.record_reasoning(part.text)
        return parts

    def step_part(step: Step) -> Part:
        if step.id not in step_at:
            step_at[step.id] = stats.chars
            stats.steps += 1
        if step.status == "error":
            stats.failed_steps += 1
        return Part("step", "", replace(step, at=step_at[step.id]))

    try:
        # aclosing: a `break` or cancel must close the provider's HTTP stream now, not at GC.
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                if isinstance(chunk, Step | MessageEnd):
                    for part in record(splitter.close()):  # the message before it ends here
                        yield part
                    part_next = True
                    if isinstance(chunk, Step):
                        yield step_part(chunk)
                    continue
                if signal := read_signal(chunk):
                    stats.status = signal.value
                    if on_signal:
                        on_signal(signal)
                    continue
                usage = getattr(chunk, "usage_metadata", None)
                if usage and usage.get("output_tokens"):
                    stats.output_tokens = (stats.output_tokens or 0) + usage["output_tokens"]
                for part in record(splitter.feed(chunk)):
                    yield part
                if ends_answer and getattr(chunk, "chunk_position", None) == "last":
                    for part in record(splitter.close()):
                        yield part
                    if on_complete is not None:
                        await on_complete()
        for part in record(splitter.close()):  # what it held back: a dangling partial tag, an unclosed block
            yield part
    except RivuletError as exc:
        stats.finish("error", str(exc))
        raise
    except Exception as exc:
        error = humanize(exc, where=where, mid_answer=stats.chunks > 0 or stats.reasoning_chars > 0)
        # Types only: provider messages can quote (part of) an API key.
        causes = " <- ".join(type(e).__name__ for e in _chain(exc))
        log.warning("answer failed after %d chunks: %s (%s)", stats.chunks, getattr(error, "kind", "config"), causes)
        stats.finish("error", str(error))
        raise error from exc
    except BaseException:  # cancelled, or the consumer closed us (GeneratorExit)
        stats.finish("stopped")
        raise
    stats.finish("done")


async def stream_answer(
    model: AnswerSource,
    prompt: str,
    *,
    history: Sequence[Message] = (),
    system: str | None = None,
    stats: AnswerStats | None = None,
    options: Mapping[str, Any] | None = None,
    context: ContextWindow | None = None,
    on_signal: Callable[[Signal], None] | None = None,
    where: str = "the model provider",
) -> AsyncIterator[str]:
    """Yield the answer's text chunks as the model produces them: `stream_parts` without the reasoning.

    The same figures, signals, errors and closing as `stream_parts` (the reasoning still counts in `stats`).
    """
    parts = stream_parts(
        model,
        prompt,
        history=history,
        system=system,
        stats=stats,
        options=options,
        context=context,
        on_signal=on_signal,
        where=where,
    )
    async with contextlib.aclosing(parts):  # closing or cancelling this closes the loop, and the provider stream
        async for part in parts:
            if part.kind == "answer":
                yield part.text
