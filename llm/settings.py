"""Model settings, and the base every Rivulet settings class shares: flags > environment > `.env` > defaults.

`Settings` holds what the core needs (which model, how to call it, how much history fits).
The server's settings live in `api/settings.py`, the page's in `ui/settings.py`; each reads
the same `RIVULET_*` variables and `.env` file.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."


def comma_list(value: Any) -> Any:
    """'a, b' -> ['a', 'b'] for list settings given as one string (environment, .env)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def space_list(value: Any) -> Any:
    """'a b' -> ['a', 'b'] for lists of model specs given as one string (specs may contain commas)."""
    if isinstance(value, str):
        return value.split()
    return value


class EnvSettings(BaseSettings):
    """Frozen settings from `RIVULET_*` variables and `.env`; secrets are `SecretStr`, never printed."""

    model_config = SettingsConfigDict(
        env_prefix="RIVULET_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Build settings, letting explicit (non-None) overrides win over env and `.env`; unknown keys are ignored."""
        return cls(**{key: value for key, value in overrides.items() if value is not None and key in cls.model_fields})


class Settings(EnvSettings):
    """Which model answers, and how it is called."""

    model: str = Field(
        "local", description="Model spec: local, openai:<model>, ollama:<model>, py:<module>:<attr>, fake"
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra specs offered in the page's model picker (RIVULET_MODELS: separated by spaces)",
    )
    base_url: str | None = Field(None, description="URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("RIVULET_API_KEY", "OPENAI_API_KEY", "api_key")
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(512, gt=0, le=1_000_000)
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect to a provider")
    idle_timeout: float = Field(60.0, gt=0, description="Seconds a provider may stay silent between chunks")
    max_prompt_chars: int = Field(100_000, gt=0, description="Largest prompt plus history accepted, in characters")
    context_tokens: int | None = Field(
        None,
        ge=256,
        description="Context window in tokens: history is trimmed to fit it "
        "(default: 4096 per slot for the local model; unset means no trimming for other providers)",
    )
    parallel: int = Field(4, ge=1, le=64, description="Answers the local model generates at the same time")

    _split_models = field_validator("models", mode="before")(space_list)
