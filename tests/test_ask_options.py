"""What a caller may choose per request: `model`, `temperature`, `max_tokens` in `POST /ask`, and `ask --url` flags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import Field

from api.ask import register_api
from llm.factory import ModelRegistry
from llm.fake import FakeStreamingChatModel, demo_words
from llm.settings import Settings
from tests.support.servers import run_api, run_main

OFFERED = "fake:chunks=3,rate=0"


class OptionsRecorder(FakeStreamingChatModel):
    """A fake that remembers the options of each call."""

    options: list[dict[str, Any]] = Field(default_factory=list)

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.options.append({k: v for k, v in kwargs.items() if k in {"temperature", "max_tokens"}})
        async for chunk in super()._astream(messages, *args, **kwargs):
            yield chunk


@pytest.fixture
def model() -> OptionsRecorder:
    return OptionsRecorder(pieces=["Default ", "model."], rate=0)


@pytest.fixture
async def client(model: OptionsRecorder) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    settings = Settings(model="test", models=[OFFERED])
    register_api(app, ModelRegistry(settings, preset={"test": model}), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        yield client


async def test_a_request_picks_one_of_the_offered_models(client: httpx.AsyncClient) -> None:
    response = await client.post("/ask", json={"prompt": "hi", "model": OFFERED})
    assert response.status_code == 200
    assert response.text == "".join(demo_words(3))
    default = await client.post("/ask", json={"prompt": "hi"})
    assert default.text == "Default model."


async def test_a_model_the_server_does_not_offer_is_refused_by_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/ask", json={"prompt": "hi", "model": "openai:gpt-4o"})
    assert response.status_code == 422
    assert response.json() == {
        "error": f"This server does not offer the model 'openai:gpt-4o'. It offers: test, {OFFERED}."
    }


async def test_temperature_and_max_tokens_reach_the_model(client: httpx.AsyncClient, model: OptionsRecorder) -> None:
    response = await client.post("/ask", json={"prompt": "hi", "temperature": 0.25, "max_tokens": 7})
    assert response.status_code == 200
    await client.post("/ask", json={"prompt": "hi"})
    assert model.options == [{"temperature": 0.25, "max_tokens": 7}, {}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "hi", "temperature": 3}, "temperature"),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "hi", "temprature": 0.5}, "temprature"),
    ],
)
async def test_a_bad_or_unknown_field_is_named_not_ignored(
    client: httpx.AsyncClient, model: OptionsRecorder, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/ask", json=body)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"The request is not valid ({field}: ")
    assert model.options == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_get_the_error_body_of_every_ask_error(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/ask")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {"error": f'/ask answers POST only, not {method}. Send {{"prompt": "your question"}}.'}


def test_ask_url_sends_model_temperature_and_max_tokens_along(model: OptionsRecorder) -> None:
    with run_api(model, models=[OFFERED]) as url:
        chosen = run_main("ask", "--url", url, "--model", OFFERED, "hi")
        tuned = run_main("ask", "--url", url, "--temperature", "0.5", "--max-tokens", "9", "hi")
        refused = run_main("ask", "--url", url, "--model", "fake:chunks=99", "hi")
    assert (chosen.returncode, chosen.stdout) == (0, "".join(demo_words(3)) + "\n")
    assert (tuned.returncode, tuned.stdout) == (0, "Default model.\n")
    assert model.options == [{"temperature": 0.5, "max_tokens": 9}]
    assert refused.returncode == 1
    assert (
        refused.stderr
        == "error: This server does not offer the model 'fake:chunks=99'. It offers: test, fake:chunks=3,rate=0.\n"
    )


def test_ask_url_refuses_flags_only_a_local_model_can_use() -> None:
    result = run_main("ask", "--url", "http://127.0.0.1:9", "--base-url", "http://127.0.0.1:9/v1", "hi")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --base-url cannot apply to a server at --url: it uses its own. Leave them out, or ask without --url.\n"
    )
