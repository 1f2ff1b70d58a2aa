"""One frozen settings object: CLI flags > environment > `.env` file > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def default_data_dir() -> Path:
    """~/.local/share/rivulet (or $XDG_DATA_HOME/rivulet): conversations and the storage secret."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "rivulet"


DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."


class Settings(BaseSettings):
    """Rivulet's configuration. Secrets are `SecretStr`: never printed, never sent to a page."""

    model_config = SettingsConfigDict(
        env_prefix="RIVULET_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    model: str = Field(
        "local", description="Model spec: local, openai:<model>, ollama:<model>, py:<module>:<attr>, fake"
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra specs offered in the page's model picker"
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
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra origins allowed to call /ask, or ['*'] for any"
    )
    data_dir: Path = Field(default_factory=lambda: default_data_dir(), description="Where Rivulet keeps its state")
    reconnect_grace: float = Field(
        5.0, gt=0, description="Seconds a closed or reloading tab may take to come back before its answer stops"
    )
    password: SecretStr | None = Field(
        None, description="Password for the login page and the /ask bearer token (environment only, never a flag)"
    )
    no_auth: bool = Field(False, description="Serve a non-loopback address without a password (explicit opt-out)")
    storage_secret: SecretStr | None = Field(
        None, description="Signs the session cookie; the same value on every host behind one Redis (default: a file)"
    )

    @field_validator("password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("storage_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("models", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, letting explicit (non-None) overrides win over env and `.env`."""
        return cls(**{key: value for key, value in overrides.items() if value is not None})

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to show: secrets are reduced to whether they are set."""
        data = self.model_dump(exclude={"api_key", "password", "storage_secret"})
        data["api_key_set"] = self.api_key is not None
        data["password_set"] = self.password is not None
        return data
