"""Model specs: each valid form builds its model; bad ones say how to fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI

from llm.embedded import EmbeddedChatModel
from llm.errors import ConfigError
from llm.factory import OLLAMA_URL, ModelRegistry, make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings


def test_local_is_the_bundled_gguf(settings: Settings) -> None:
    model = make_model("local", settings)
    assert isinstance(model, EmbeddedChatModel)
    assert model.model_path.endswith(".gguf") and Path(model.model_path).is_file()


def test_local_with_missing_file(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="not found"):
        make_model("local:/nowhere/model.gguf", settings)


def test_openai_without_key_is_a_config_error(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_model("openai:gpt-4o-mini", settings)


def test_openai_compatible_server_has_timeouts_and_usage() -> None:
    settings = Settings(base_url="http://127.0.0.1:9/v1", idle_timeout=12, connect_timeout=3)
    model = make_model("openai:some-model", settings)
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert model.stream_usage is True
    assert model.request_timeout.read == 12 and model.request_timeout.connect == 3


def test_ollama_uses_the_local_url(settings: Settings) -> None:
    model = make_model("ollama:llama3.2", settings)
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == OLLAMA_URL
    assert model.model_name == "llama3.2"


def test_py_spec_imports_an_instance_or_a_factory(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "mymodels.py").write_text(
        "from llm.fake import FakeStreamingChatModel\n"
        "instance = FakeStreamingChatModel(chunks=3)\n"
        "def factory():\n    return FakeStreamingChatModel(chunks=4)\n"
        "not_a_model = 42\n"
    )
    assert make_model("py:mymodels:instance", settings).chunks == 3
    assert make_model("py:mymodels:factory", settings).chunks == 4
    with pytest.raises(ConfigError, match="not a LangChain BaseChatModel"):
        make_model("py:mymodels:not_a_model", settings)
    with pytest.raises(ConfigError, match="Could not import"):
        make_model("py:no_such_module_xyz:thing", settings)


def test_fake_spec_options(settings: Settings) -> None:
    model = make_model("fake:chunks=50,rate=0", settings)
    assert isinstance(model, FakeStreamingChatModel)
    assert model.chunks == 50 and model.rate == 0
    with pytest.raises(ConfigError, match="fake:chunks=N,rate=R"):
        make_model("fake:speed=3", settings)


@pytest.mark.parametrize("spec", ["gpt4", "openai:", "py:onlymodule", "anthropic:claude", ""])
def test_bad_specs_list_the_valid_forms(settings: Settings, spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_model(spec, settings)
    message = str(info.value)
    assert "py:" in message or "must look like" in message


def test_registry_builds_each_spec_once(settings: Settings) -> None:
    registry = ModelRegistry(settings.model_copy(update={"model": "fake"}))
    assert registry.get() is registry.get("fake")
    assert registry.describe("openai:x") == "OpenAI"
