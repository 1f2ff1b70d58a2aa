"""Every provider failure gives one human sentence in the page, the CLI and /ask; nothing produced is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from nicegui.testing import User

from api.ask import ERROR_MARK
from llm.embedded import EmbeddedChatModel
from llm.factory import ModelRegistry, make_model
from llm.settings import Settings
from tests.support.fake_openai import ANSWER, FAILURES, FakeOpenAIServer
from tests.support.models import ask_in_process, parse_sse
from tests.support.page import answers, error_text, send, serve, status_text, wait_for
from tests.support.servers import ROOT, cli_env, free_port
from ui.chat_page import register_pages


def settings_for(server: FakeOpenAIServer, name: str) -> Settings:
    return Settings(model=f"openai:{name}", base_url=server.base_url, idle_timeout=0.5)


def where(server: FakeOpenAIServer) -> str:
    """How the app names the misbehaving server in its messages (`--base-url`)."""
    return f"the server at {server.base_url}"


@pytest.mark.parametrize("name", FAILURES)
async def test_page_shows_the_failure_and_keeps_the_partial(
    user: User, fake_openai: FakeOpenAIServer, name: str
) -> None:
    failure = FAILURES[name]
    message = failure.message(where(fake_openai))
    settings = settings_for(fake_openai, name)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "hello")
    await user.should_see(message, retries=100)
    assert error_text(user) == message
    assert answers(user)[-1] == failure.partial
    assert status_text(user).startswith("Incomplete")
    await user.should_see("Send")
    await user.open("/")  # the failed turn is in the history, marked incomplete
    await wait_for(lambda: error_text(user) == message)
    assert answers(user) == [failure.partial] and status_text(user).startswith("Incomplete")


async def test_connection_refused_in_the_page_names_the_url(user: User) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(model="openai:x", base_url=url)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "hello")
    message = f"Could not connect to the server at {url}. Check that the server is running and the URL is right."
    await user.should_see(message, retries=100)
    assert error_text(user) == message and answers(user) == [""]


async def test_one_failing_tab_does_not_disturb_another(create_user, fake_openai: FakeOpenAIServer) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(model="openai:ok", models=["openai:cut"], base_url=fake_openai.base_url)
    register_pages(ModelRegistry(settings), settings)
    broken, fine = create_user(), create_user()
    await broken.open("/")
    await fine.open("/")
    broken.find(marker="model-select").click()
    broken.find("openai:cut").click()
    send(broken, "fail please")
    send(fine, "work please")
    cut = FAILURES["cut"]
    await wait_for(lambda: error_text(broken) == cut.message(where(fake_openai)))
    assert answers(broken) == [cut.partial]
    await wait_for(lambda: answers(fine) == [ANSWER] and status_text(fine) != "")
    assert error_text(fine) == "" and not status_text(fine).startswith("Incomplete")


@pytest.mark.parametrize("name", FAILURES)
def test_cli_prints_one_line_and_exits_1(fake_openai: FakeOpenAIServer, name: str) -> None:
    failure = FAILURES[name]
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "ask", "--model", f"openai:{name}", "--base-url", fake_openai.base_url,
         "--idle-timeout", "0.5", "hello"],
        capture_output=True, text=True, env=cli_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == (failure.partial + "\n" if failure.partial else "")
    assert result.stderr == f"error: {failure.message(where(fake_openai))}\n"


@pytest.mark.parametrize("name", FAILURES)
@pytest.mark.parametrize("accept", ["text/plain", "text/event-stream"])
async def test_ask_endpoint_reports_every_case(fake_openai: FakeOpenAIServer, name: str, accept: str) -> None:
    failure = FAILURES[name]
    message = failure.message(where(fake_openai))
    model = make_model(f"openai:{name}", settings_for(fake_openai, name))
    async with ask_in_process(model, f"openai:{name}", base_url=fake_openai.base_url) as client:
        response = await client.post("/ask", json={"prompt": "hi"}, headers={"Accept": accept})
        after = await client.post("/ask", content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == failure.status
    if accept == "text/event-stream":
        events = parse_sse(response.text)
        texts = [data for event, data in events if event == "message"]
        assert "".join(texts) == failure.partial
        assert events[-1] == ("error", json.dumps({"error": message}))
    elif failure.partial:
        assert response.text == failure.partial + ERROR_MARK + message + "\n"
    else:
        assert response.json() == {"error": message}
    assert after.status_code == 422  # still serving


async def test_stop_in_the_page_closes_the_provider_request(user: User, fake_openai: FakeOpenAIServer) -> None:
    settings = Settings(model="openai:slow", base_url=fake_openai.base_url)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "slowly")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3)
    user.find("Stop").click()
    stopped_at = time.monotonic()
    await wait_for(lambda: bool(fake_openai.times("closed", "slow")), limit=2)
    assert fake_openai.times("closed", "slow")[0] - stopped_at < 1.0
    await wait_for(lambda: "Stopped" in status_text(user))


async def test_stop_in_the_page_stops_the_embedded_model(user: User, gguf_path: str) -> None:
    model = EmbeddedChatModel(model_path=gguf_path, max_tokens=400, temperature=0.0)
    serve(model)
    await user.open("/")
    send(user, "Write a long story about a river.")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3, limit=30)
    before = await model.engine.metrics()
    shown = len(answers(user)[-1].split())
    button = user.find(marker="send")
    assert next(iter(button.elements)).text == "Stop"  # type: ignore[attr-defined]
    button.click()
    stopped_at = time.monotonic()
    # Generous: on a loaded machine the event loop shares two cores with the generating engine.
    await wait_for(lambda: next(iter(user.find(marker="send").elements)).text == "Send")  # type: ignore[attr-defined]
    assert status_text(user).startswith("Stopped"), (
        f"the answer ended without the stop ({shown} words shown at Stop): {status_text(user)!r}"
    )
    while (await model.engine.metrics())["requests_processing"] > 0:
        assert time.monotonic() - stopped_at < 1.0, "the engine still generates 1 s after Stop"
    predicted = (await model.engine.metrics())["tokens_predicted_total"] - before["tokens_predicted_total"]
    assert predicted < 400 - 100, f"{predicted} tokens generated though Stop came after about {shown} words"
