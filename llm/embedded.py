"""The embedded offline model: a GGUF file on the supervised local engine, reached through `ChatOpenAI`.

The engine (`llm.engine`) speaks the OpenAI protocol, so answers take the same `ChatOpenAI`
path as every other provider (`stream_usage=True`: token figures are the engine's own).
This model adds only what the supervision needs: it starts the engine on first use and
says so (`Signal.LOADING`), tells when every slot is busy (`Signal.WAITING`), turns a crash
into one sentence and restarts the engine, and counts tokens with the model's tokenizer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field, PrivateAttr

from llm.context import ContextWindow
from llm.engine import Engine, EngineConfig, engine_crashed, engine_for
from llm.openai_reasoning import ReasoningChatOpenAI
from llm.signals import Signal, signal_chunk


class EmbeddedChatModel(BaseChatModel):
    """A GGUF model served by Rivulet's own supervised llama.cpp engine."""

    model_path: str = Field(description="Path of the GGUF model file")
    context_tokens: int = Field(4096, ge=256, description="Context window of each slot, in tokens")
    parallel: int = Field(4, ge=1, le=64, description="Answers generated at the same time")
    max_tokens: int = Field(512, gt=0, description="Most tokens generated per answer")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling")
    seed: int | None = Field(None, description="Sampling seed for repeatable answers")
    idle_timeout: float = Field(60.0, gt=0, description="Seconds the engine may stay silent between chunks")

    _clients: dict[str, ChatOpenAI] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "rivulet-embedded-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "context_tokens": self.context_tokens, "parallel": self.parallel}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama-cpp"
        params["ls_model_name"] = kwargs.get("model", Path(self.model_path).stem)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        return params

    @property
    def engine(self) -> Engine:
        """The process-wide engine for this file, context and slot count."""
        return engine_for(EngineConfig(self.model_path, self.context_tokens, self.parallel))

    def context_window(self) -> ContextWindow:
        """This model's window per slot, counted with its own tokenizer."""
        return ContextWindow(self.context_tokens, reserve=self.max_tokens, count_text=self.engine.count_tokens)

    def _client(self, base_url: str) -> ChatOpenAI:
        """The `ChatOpenAI` for the engine at `base_url` (a restarted engine has a new port)."""
        if base_url not in self._clients:
            self._clients.clear()
            self._clients[base_url] = ReasoningChatOpenAI(  # ChatOpenAI that keeps `reasoning_content`
                model=Path(self.model_path).stem,
                base_url=base_url,
                api_key=self.engine.api_key,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=self.seed,
                timeout=httpx.Timeout(self.idle_timeout, connect=10.0),
                max_retries=0,
                streaming=True,
                stream_usage=True,
            )
        return self._clients[base_url]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        client = self._client(self.engine.base_url)
        return client._generate(messages, stop=stop, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        client = self._client(self.engine.base_url)
        with self.engine.slot():
            for chunk in client._stream(messages, stop=stop, **kwargs):
                if run_manager and chunk.text:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        engine = self.engine
        if not engine.running:
            yield ChatGenerationChunk(message=signal_chunk(Signal.LOADING))
        client = self._client(await engine.ensure_started())
        with engine.slot() as full:
            if full:
                yield ChatGenerationChunk(message=signal_chunk(Signal.WAITING))
            try:
                # ChatOpenAI's own `_astream`: this call is already traced by `astream`, and a second
                # layer of callbacks per chunk would cost the engine CPU time on a small machine.
                # aclosing: a stop closes the HTTP stream at once, and the engine frees the slot.
                async with contextlib.aclosing(client._astream(messages, stop=stop, **kwargs)) as stream:
                    async for chunk in stream:
                        if run_manager and chunk.text:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
            except Exception as exc:
                if await engine.died():
                    engine.start_in_background()
                    raise engine_crashed() from exc
                raise
