"""Build a LangChain chat model from a short spec string (`local`, `openai:gpt-4o-mini`, …)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from llm.context import ContextWindow
from llm.errors import ConfigError
from llm.settings import Settings
from llm.streaming import AnswerSource

OLLAMA_URL = "http://127.0.0.1:11434/v1"
#: Placeholder key for OpenAI-compatible servers that do not check keys.
NO_KEY = "not-needed"

SPEC_HELP = """\
Valid model specs:
  local                    the embedded SmolLM2-135M-Instruct (offline, the default)
  local:/path/to/file.gguf another GGUF file, on the same local engine
  openai:<model>           OpenAI (needs OPENAI_API_KEY), or any OpenAI-compatible server with --base-url
  ollama:<model>           a model served by Ollama on this machine
  py:<module>:<attribute>  your own LangChain chat model, chain or agent (any Runnable), or a zero-argument
                           function returning one
  fake[:chunks=N,rate=R]   a deterministic demo model: N word chunks at R chunks/s (0 = max speed)"""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: `kind` picks the builder, `arg` is everything after the first colon."""

    kind: str
    arg: str

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        spec = spec.strip()
        kind, _, arg = spec.partition(":")
        if kind not in BUILDERS:
            raise ConfigError(f"Unknown model spec {spec!r}.\n{SPEC_HELP}")
        if kind in {"openai", "ollama", "py"} and not arg:
            raise ConfigError(f"Model spec {spec!r} needs a name after '{kind}:'.\n{SPEC_HELP}")
        return cls(kind, arg)


#: Context window per slot of the local model when --context-tokens is not given.
LOCAL_CONTEXT_TOKENS = 4096


def _local(arg: str, settings: Settings) -> BaseChatModel:
    from llm.embedded import EmbeddedChatModel
    from llm.engine import bundled_model_path, check_gguf

    path = check_gguf(arg) if arg else bundled_model_path()
    return EmbeddedChatModel(
        model_path=str(path),
        context_tokens=settings.context_tokens or LOCAL_CONTEXT_TOKENS,
        parallel=settings.parallel,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        idle_timeout=settings.idle_timeout,
    )


def _openai_compatible(model: str, settings: Settings, *, base_url: str | None, api_key: str | None) -> BaseChatModel:
    import httpx

    from llm.openai_reasoning import ReasoningChatOpenAI

    # ChatOpenAI, keeping the reasoning OpenAI-compatible servers stream (see llm.openai_reasoning).
    return ReasoningChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=api_key,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        # read= is the longest silence between two chunks; without it ChatOpenAI waits forever.
        timeout=httpx.Timeout(settings.idle_timeout, connect=settings.connect_timeout),
        max_retries=0,
        streaming=True,
        stream_usage=True,
    )


def _openai(arg: str, settings: Settings) -> BaseChatModel:
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if key is None and settings.base_url is None:
        raise ConfigError(
            "openai: models need an API key. Set OPENAI_API_KEY (in the environment or .env), "
            "or pass --base-url for a local OpenAI-compatible server."
        )
    return _openai_compatible(arg, settings, base_url=settings.base_url, api_key=key or NO_KEY)


def _ollama(arg: str, settings: Settings) -> BaseChatModel:
    key = settings.api_key.get_secret_value() if settings.api_key else NO_KEY
    return _openai_compatible(arg, settings, base_url=settings.base_url or OLLAMA_URL, api_key=key)


def _py(arg: str, settings: Settings) -> AnswerSource:
    module_name, _, attribute = arg.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"Model spec 'py:{arg}' must look like py:<module>:<attribute>.\n{SPEC_HELP}")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"Could not import module {module_name!r} for py:{arg}. "
            "It must be in the current directory or on PYTHONPATH."
        ) from exc
    try:
        target: Any = getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigError(f"Module {module_name!r} has no attribute {attribute!r}.") from exc
    if not isinstance(target, Runnable) and callable(target):
        try:
            target = target()
        except TypeError as exc:
            raise ConfigError(f"py:{arg} must take no arguments when it is a function ({exc}).") from exc
    if not isinstance(target, Runnable):
        raise ConfigError(
            f"py:{arg} is a {type(target).__name__}, not a LangChain chat model or runnable "
            "(or a zero-argument function returning one). A chain or agent receives {'messages': [...]}."
        )
    return target


def _fake(arg: str, settings: Settings) -> BaseChatModel:
    from llm.fake import FakeStreamingChatModel

    options: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in arg.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in {"chunks", "rate", "first_delay"}:
            raise ConfigError(f"Bad fake option {part!r}: use fake:chunks=N,rate=R (rate in chunks/s, 0 = max speed).")
        try:
            options[name] = float(value)
        except ValueError as exc:
            raise ConfigError(f"Bad fake option {part!r}: {value!r} is not a number.") from exc
    if "chunks" in options:
        options["chunks"] = int(options["chunks"])
    try:
        return FakeStreamingChatModel(**options)
    except ValueError as exc:
        raise ConfigError(f"Bad fake options {arg!r}: chunks and rate must be zero or more.") from exc


BUILDERS: dict[str, Callable[[str, Settings], AnswerSource]] = {
    "local": _local,
    "openai": _openai,
    "ollama": _ollama,
    "py": _py,
    "fake": _fake,
}


def make_model(spec: str, settings: Settings) -> AnswerSource:
    """Build the chat model (or runnable) named by `spec`; raise `ConfigError` with a fix when it cannot work."""
    parsed = ModelSpec.parse(spec)
    return BUILDERS[parsed.kind](parsed.arg, settings)


def describe(spec: str, settings: Settings) -> str:
    """Where a spec's answers come from, for error messages. Never contains a key."""
    kind = spec.partition(":")[0]
    if kind == "local":
        return "the local model"
    if kind == "ollama":
        return f"Ollama at {settings.base_url or OLLAMA_URL}"
    if kind == "openai":
        return f"the server at {settings.base_url}" if settings.base_url else "OpenAI"
    return f"the model {spec!r}"


class ModelRegistry:
    """Builds each spec once per process and hands out the shared instance."""

    def __init__(self, settings: Settings, preset: Mapping[str, AnswerSource] | None = None) -> None:
        self.settings = settings
        self._models: dict[str, AnswerSource] = dict(preset or {})

    @property
    def specs(self) -> list[str]:
        """The default spec first, then the extra ones from `--models`, without duplicates."""
        return list(dict.fromkeys([self.settings.model, *self.settings.models]))

    def get(self, spec: str | None = None) -> AnswerSource:
        spec = spec or self.settings.model
        if spec not in self._models:
            self._models[spec] = make_model(spec, self.settings)
        return self._models[spec]

    def check_all(self) -> AnswerSource:
        """Build every offered spec (a bad one is a `ConfigError` naming it); returns the default model."""
        for spec in self.specs[1:]:
            try:
                self.get(spec)
            except ConfigError as exc:
                hint = " Separate specs with spaces, not commas." if "," in spec and ":" not in spec else ""
                raise ConfigError(f"In --models, {spec!r}: {exc}{hint}") from exc
        return self.get()

    def describe(self, spec: str | None = None) -> str:
        return describe(spec or self.settings.model, self.settings)

    def context(self, spec: str | None = None) -> ContextWindow | None:
        """The context window history is trimmed to: the model's own, else `--context-tokens`."""
        return context_window(self.get(spec), self.settings)


def context_window(model: AnswerSource, settings: Settings) -> ContextWindow | None:
    """A model's own window (counted with its tokenizer) if it has one, else one from settings."""
    own = getattr(model, "context_window", None)
    if callable(own):
        return own()
    if settings.context_tokens:
        return ContextWindow(settings.context_tokens, reserve=min(settings.max_tokens, settings.context_tokens // 2))
    return None
