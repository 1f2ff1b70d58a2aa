"""The server's settings: where it listens, who may call it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from llm.settings import EnvSettings, comma_list


class ServerSettings(EnvSettings):
    """Address, CORS and password of the HTTP server (page and `/ask`)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra origins allowed to call /ask, or ['*'] for any"
    )
    password: SecretStr | None = Field(
        None, description="Password for the login page and the /ask bearer token (environment only, never a flag)"
    )
    no_auth: bool = Field(False, description="Serve a non-loopback address without a password (explicit opt-out)")

    _split_origins = field_validator("cors_origins", mode="before")(comma_list)

    @field_validator("password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value
