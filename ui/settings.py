"""The page's settings: where conversations are kept, how sessions are signed, how long a tab may be gone."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from llm.settings import EnvSettings


def default_data_dir() -> Path:
    """~/.local/share/rivulet (or $XDG_DATA_HOME/rivulet): conversations and the storage secret."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "rivulet"


class PageSettings(EnvSettings):
    """Storage and session settings of the chat page."""

    data_dir: Path = Field(default_factory=default_data_dir, description="Where Rivulet keeps its state")
    reconnect_grace: float = Field(
        5.0, gt=0, description="Seconds a closed or reloading tab may take to come back before its answer stops"
    )
    storage_secret: SecretStr | None = Field(
        None, description="Signs the session cookie; the same value on every host behind one Redis (default: a file)"
    )

    @field_validator("storage_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value
