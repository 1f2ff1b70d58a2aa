"""Model specs: each valid form builds its model; bad ones say how to fix them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from langchain_openai import ChatOpenAI

from llm.embedded import EmbeddedChatModel
from llm.errors import ConfigError
from llm.factory import OLLAMA_URL, SPEC_HELP, ModelRegistry, make_model
from llm.fake import DEMO_TEXT, FakeStreamingChatModel, demo_words
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
        "from llm.fake import DEMO_TEXT, FakeStreamingChatModel, demo_words\n"
        "instance = FakeStreamingChatModel(chunks=3)\n"
        "def factory():\n    return FakeStreamingChatModel(chunks=4)\n"
        "not_a_model = 42\n"
    )
    assert make_model("py:mymodels:instance", settings).chunks == 3
    assert make_model("py:mymodels:factory", settings).chunks == 4
    with pytest.raises(ConfigError, match="not a LangChain chat model or runnable"):
        make_model("py:mymodels:not_a_model", settings)
    with pytest.raises(ConfigError, match="Could not import"):
        make_model("py:no_such_module_xyz:thing", settings)
    with pytest.raises(ConfigError) as info:
        make_model("py:mymodels:missing", settings)
    assert str(info.value) == "Module 'mymodels' has no attribute 'missing'."


def test_fake_spec_options(settings: Settings) -> None:
    model = make_model("fake:chunks=50,rate=0", settings)
    assert isinstance(model, FakeStreamingChatModel)
    assert model.chunks == 50 and model.rate == 0
    with pytest.raises(ConfigError, match="fake:chunks=N,rate=R"):
        make_model("fake:speed=3", settings)
    with pytest.raises(ConfigError, match="'x' is not a number"):
        make_model("fake:rate=x", settings)
    with pytest.raises(ConfigError, match="chunks and rate must be zero or more"):
        make_model("fake:chunks=-1", settings)


async def test_fake_spec_streams_its_chunks_at_its_rate(settings: Settings) -> None:
    model = make_model("fake:chunks=9,rate=20", settings)
    arrivals: list[float] = []
    chunks: list[str] = []
    started = time.monotonic()
    async for chunk in model.astream("hi"):
        if chunk.text:  # LangChain ends the stream with an empty chunk
            arrivals.append(time.monotonic() - started)
            chunks.append(chunk.text)
    assert chunks == demo_words(9)
    # Chunk i is due i/20 s after the start: the pace holds, it neither bursts nor lags.
    for index, arrival in enumerate(arrivals):
        assert index / 20 <= arrival + 0.005, f"chunk {index} came early, at {arrival:.3f} s"
    assert arrivals[-1] < 8 / 20 + 0.3, f"the last chunk came at {arrivals[-1]:.3f} s, not about 0.4 s"
    whole = make_model("fake:rate=0", settings)
    assert "".join([c.text async for c in whole.astream("hi")]) == DEMO_TEXT  # without chunks=: the document once


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("gpt4", "Unknown model spec 'gpt4'."),
        ("anthropic:claude", "Unknown model spec 'anthropic:claude'."),
        ("", "Unknown model spec ''."),
        ("openai:", "Model spec 'openai:' needs a name after 'openai:'."),
        ("ollama:", "Model spec 'ollama:' needs a name after 'ollama:'."),
        ("py:", "Model spec 'py:' needs a name after 'py:'."),
        ("py:onlymodule", "Model spec 'py:onlymodule' must look like py:<module>:<attribute>."),
    ],
)
def test_bad_specs_say_what_is_wrong_and_list_the_valid_forms(settings: Settings, spec: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_model(spec, settings)
    assert str(info.value) == f"{problem}\n{SPEC_HELP}"


def test_registry_builds_each_spec_once(settings: Settings) -> None:
    registry = ModelRegistry(settings.model_copy(update={"model": "fake"}))
    assert registry.get() is registry.get("fake")
    assert registry.describe("openai:x") == "OpenAI"
