"""A deterministic streaming chat model for demos, benchmarks and tests: no model needed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

DEMO_TEXT = """\
# Streaming, one chunk at a time

Rivulet shows an answer **while it is being written**, so a long answer never freezes the page.

## Why it matters

- A summary of a *whole book* can take a minute to generate.
- Streaming shows the first words in well under a second.
- You can stop an answer as soon as you have read enough.

## A small table

| provider | runs where | needs a key |
|---|---|---|
| local | in this process | no |
| ollama | on this machine | no |
| openai | in the cloud | yes |

## Some code

```python
async for chunk in model.astream(prompt):
    print(chunk.content, end="", flush=True)
```

> Each chunk travels over the page's websocket as soon as it is ready.

"""


def split_words(text: str) -> list[str]:
    """Word chunks of `text`, each keeping its trailing whitespace; they join back to `text` exactly."""
    pieces: list[str] = []
    current = ""
    for char in text:
        if not char.isspace() and current and current[-1].isspace():
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces


def demo_words(chunks: int, text: str = DEMO_TEXT) -> list[str]:
    """`chunks` word chunks of `text`, cycling through it as often as needed."""
    pieces = split_words(text)
    return [pieces[i % len(pieces)] for i in range(max(chunks, 0))]


class FakeStreamingChatModel(BaseChatModel):
    """Streams a fixed text in word chunks at a set pace.

    With `text` set, that text is streamed as given; otherwise a Markdown demo document
    is cycled to `chunks` word chunks. `rate` is chunks per second (0: as fast as possible,
    yielding to the event loop after each chunk, as a network stream would).
    """

    chunks: int | None = Field(
        None, ge=0, description="Number of word chunks, cycling the demo document; None: the document once"
    )
    rate: float = Field(40.0, ge=0, description="Chunks per second; 0 means as fast as possible")
    text: str | None = Field(None, description="Exact text to stream instead of the demo document")
    pieces: list[str] | None = Field(None, description="Exact chunks to stream, in order")
    first_delay: float = Field(0.0, ge=0, description="Seconds before the first chunk")

    @property
    def _llm_type(self) -> str:
        return "rivulet-fake"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "rate": self.rate}

    def answer_pieces(self) -> list[str]:
        """The chunks this model streams, in order."""
        if self.pieces is not None:
            return list(self.pieces)
        if self.text is not None:
            return split_words(self.text)
        return demo_words(self.chunks) if self.chunks is not None else split_words(DEMO_TEXT)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self.answer_pieces())
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        start = time.monotonic() + self.first_delay
        for index, piece in enumerate(self.answer_pieces()):
            delay = start + (index / self.rate if self.rate else 0) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        start = time.monotonic() + self.first_delay
        for index, piece in enumerate(self.answer_pieces()):
            # An absolute schedule keeps the pace exact even when the consumer is slow.
            delay = start + (index / self.rate if self.rate else 0) - time.monotonic()
            await asyncio.sleep(max(delay, 0))
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
