"""`--models`: specs may contain commas, so the list is separated by spaces, and every spec is checked at start-up."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from llm.errors import ConfigError
from llm.factory import ModelRegistry
from llm.settings import Settings
from main import load_settings, parse_args
from tests.support.servers import run_main
from ui.chat_page import register_pages


def test_a_spec_with_commas_stays_one_spec_on_the_command_line() -> None:
    args = parse_args(["--models", "fake:chunks=3000,rate=0", "fake", "--models", "local"])
    assert load_settings(args).models == ["fake:chunks=3000,rate=0", "fake", "local"]


def test_the_environment_lists_specs_separated_by_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVULET_MODELS", "fake:chunks=3,rate=0  fake")
    assert Settings().models == ["fake:chunks=3,rate=0", "fake"]


def test_every_offered_spec_is_built_at_start_up() -> None:
    registry = ModelRegistry(Settings(model="fake", models=["fake:chunks=3,rate=0", "fake:rate=x"]))
    with pytest.raises(ConfigError, match=r"In --models, 'fake:rate=x': Bad fake option 'rate=x'"):
        registry.check_all()


def test_serve_refuses_a_comma_separated_list_before_binding() -> None:
    result = run_main("--model", "fake", "--models", "local,fake")
    assert result.returncode == 2
    assert result.stderr.startswith("error: In --models, 'local,fake': Unknown model spec")
    assert "Separate specs with spaces, not commas." in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_picker_offers_a_spec_with_commas_whole(user: User) -> None:
    settings = load_settings(parse_args(["--model", "fake:chunks=5,rate=0", "--models", "fake:chunks=3000,rate=0"]))
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    picker = next(iter(user.find(marker="model-select").elements))
    assert list(picker.options) == ["fake:chunks=5,rate=0", "fake:chunks=3000,rate=0"]
