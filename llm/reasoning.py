"""Reasoning and answer text, wherever a provider puts it: one splitter for every stream.

A model's reasoning arrives in one of four places; `PartSplitter` reads them all and turns a stream of
message chunks into typed `Part`s (reasoning text, answer text):

- `additional_kwargs["reasoning_content"]`: `ChatOllama(reasoning=True)`, `ChatDeepSeek`, and Rivulet's
  `ReasoningChatOpenAI` (`llm.openai_reasoning`), which copies the OpenAI-compatible delta fields
  `reasoning_content` (DeepSeek, llama.cpp server, older vLLM) and `reasoning` (newer vLLM, OpenRouter) there;
- content blocks in a list content: `{"type": "thinking", "thinking": …}` (Anthropic),
  `{"type": "reasoning", "reasoning": …}` (LangChain v1) or `{"type": "reasoning", "summary": [{"text": …}]}`
  (OpenAI Responses); when a chunk has such blocks, its `reasoning_content` is not read again;
- inline `<think>…</think>` at the start of the text (after whitespace only), as DeepSeek-R1 or Qwen3 write
  it on a server without a reasoning parser. Tags may be split across chunks at any character and may
  never close. A tag later in the answer is answer text (an answer may well talk about `<think>`).

Everything else that is text is the answer, verbatim, except the whitespace around a `<think>` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage

from llm.steps import Step

#: What a part carries: reasoning text, answer text, or an agent's tool step (`llm.steps.Step`).
PartKind = Literal["reasoning", "answer", "step"]

#: The inline (open, close) tag pairs recognised at the start of the text.
THINK_TAGS: tuple[tuple[str, str], ...] = (("<think>", "</think>"),)


@dataclass(frozen=True)
class Part:
    """A piece of one answer's stream: reasoning text or answer text (never empty), or a step (text empty).

    A step comes twice: when its tool starts (`running`) and when it ends (the same `id`).
    """

    kind: PartKind
    text: str
    step: Step | None = None


def merge_parts(parts: Iterable[Part]) -> list[Part]:
    """`parts` with neighbours of the same kind joined: the same content, as few parts as possible."""
    merged: list[Part] = []
    for part in parts:
        if merged and merged[-1].kind == part.kind and part.kind != "step":
            merged[-1] = Part(part.kind, merged[-1].text + part.text)
        elif part.text or part.step is not None:
            merged.append(part)
    return merged


def text_of(parts: Iterable[Part], kind: PartKind) -> str:
    """All the text of one kind, e.g. `text_of(parts, "answer")`."""
    return "".join(part.text for part in parts if part.kind == kind)


def _block_reasoning(block: Mapping[str, Any]) -> str:
    """The text of a `reasoning` or `thinking` content block ("" for a signature or redacted block)."""
    for key in ("reasoning", "thinking"):
        if isinstance(value := block.get(key), str):
            return value
    summary = block.get("summary")
    if isinstance(summary, list):
        return "".join(item.get("text", "") for item in summary if isinstance(item, dict))
    return ""


class PartSplitter:
    """Turns one answer's message chunks into `Part`s, keeping state across chunks.

    `feed(chunk)` returns the parts that are certain so far; text that may be the start of a tag is held
    back until the next chunk decides it. `close()` at the end of the stream returns what is held (a
    dangling partial tag is text). One splitter per model message; `close()` makes it ready for the next.
    """

    def __init__(self, tags: Sequence[tuple[str, str]] = THINK_TAGS) -> None:
        self.tags = tuple(tags)
        self._reset()

    def _reset(self) -> None:
        self._mode: Literal["start", "reasoning", "after", "answer"] = "start"
        self._close_tag = ""
        self._trim = False  # drop whitespace right after the open tag
        self._held = ""

    @property
    def in_reasoning(self) -> bool:
        """Whether an inline reasoning block is open (a `<think>` not closed yet)."""
        return self._mode == "reasoning"

    def feed(self, chunk: BaseMessage) -> list[Part]:
        """The parts of one message chunk (an `AIMessageChunk`, or a whole `AIMessage`)."""
        parts: list[Part] = []
        content = chunk.content
        blocks = content if isinstance(content, list) else []
        has_blocks = any(isinstance(b, dict) and b.get("type") in ("reasoning", "thinking") for b in blocks)
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning and not has_blocks:
            parts.append(Part("reasoning", reasoning))
        if isinstance(content, str):
            parts += self.feed_text(content)
        for block in blocks:
            if isinstance(block, str):
                parts += self.feed_text(block)
            elif isinstance(block, dict):
                if block.get("type") in ("reasoning", "thinking"):
                    if text := _block_reasoning(block):
                        parts.append(Part("reasoning", text))
                elif block.get("type") == "text" and isinstance(block.get("text"), str):
                    parts += self.feed_text(block["text"])
        return merge_parts(parts)

    def feed_text(self, text: str) -> list[Part]:
        """The parts of a piece of text content, reading inline tags."""
        parts: list[Part] = []
        buffer, self._held = self._held + text, ""
        while buffer:
            if self._mode == "start":
                stripped = buffer.lstrip()
                opened = next(((o, c) for o, c in self.tags if stripped.startswith(o)), None)
                if opened:
                    self._mode, self._close_tag, self._trim = "reasoning", opened[1], True
                    buffer = stripped[len(opened[0]) :]
                elif not stripped or any(o.startswith(stripped) for o, _ in self.tags):
                    self._held = buffer  # whitespace, or maybe the start of an open tag
                    break
                else:
                    self._mode = "answer"
            elif self._mode == "reasoning":
                if self._trim:
                    buffer = buffer.lstrip()
                    self._trim = not buffer
                    continue
                end = buffer.find(self._close_tag)
                if end >= 0:
                    parts.append(Part("reasoning", buffer[:end].rstrip()))
                    self._mode, buffer = "after", buffer[end + len(self._close_tag) :]
                    continue
                # Hold back a possible partial close tag and trailing whitespace (dropped if the tag follows).
                keep = next(
                    (k for k in range(len(self._close_tag) - 1, 0, -1) if buffer.endswith(self._close_tag[:k])), 0
                )
                sure = buffer[: len(buffer) - keep].rstrip()
                parts.append(Part("reasoning", sure))
                self._held = buffer[len(sure) :]
                break
            elif self._mode == "after":
                buffer = buffer.lstrip()
                if buffer:
                    self._mode = "answer"
            else:
                parts.append(Part("answer", buffer))
                break
        return merge_parts(parts)

    def close(self) -> list[Part]:
        """The parts still held at the end of the stream; then the splitter is ready for a new message."""
        held, mode = self._held, self._mode
        self._reset()
        if mode == "reasoning" and held.strip():
            return [Part("reasoning", held.rstrip())]  # an unclosed block ends with the stream
        if mode == "start" and held:
            return [Part("answer", held)]  # no tag after all: `<thi`, or only whitespace
        return []


async def split_stream(chunks: AsyncIterable[BaseMessage], splitter: PartSplitter | None = None) -> AsyncIterator[Part]:
    """The parts of a stream of message chunks, as they become certain, ending with what `close()` holds."""
    splitter = splitter or PartSplitter()
    async for chunk in chunks:
        for part in splitter.feed(chunk):
            yield part
    for part in splitter.close():
        yield part
