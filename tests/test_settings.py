"""Settings come from flags > environment > .env > defaults; secrets are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import ServerSettings
from llm.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.model == "local" and settings.parallel == 4 and settings.context_tokens is None
    assert settings.api_key is None
    assert ServerSettings().host == "127.0.0.1"  # this machine only, unless told otherwise


def test_precedence_flags_over_env_over_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RIVULET_MODEL=fake\nRIVULET_TEMPERATURE=0.1\nRIVULET_MAX_TOKENS=33\n")
    assert Settings().max_tokens == 33
    monkeypatch.setenv("RIVULET_TEMPERATURE", "0.2")
    monkeypatch.setenv("RIVULET_MODEL", "ollama:llama3")
    settings = Settings.load(model="openai:gpt-4o-mini", temperature=None)
    assert settings.model == "openai:gpt-4o-mini"  # flag
    assert settings.temperature == 0.2  # environment
    assert settings.max_tokens == 33  # .env


def test_api_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-123")
    settings = Settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-canary-123"
    assert "sk-canary-123" not in repr(settings)
    assert "sk-canary-123" not in settings.model_dump_json()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError):
        settings.model = "fake"  # type: ignore[misc]


def test_lists_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVULET_CORS_ORIGINS", "http://a.test, http://b.test")
    assert ServerSettings().cors_origins == ["http://a.test", "http://b.test"]
