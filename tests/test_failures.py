"""Every provider failure gives one human sentence in the page, the CLI and /ask; nothing produced is lost."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from nicegui.testing import User

from api.ask import ERROR_MARK
from llm.embedded import EmbeddedChatModel
from llm.factory import ModelRegistry, make_model
from llm.settings import Settings
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.page import answers, send, serve, status_text, wait_for
from tests.support.servers import ROOT, cli_env, free_port, run_api
from ui.chat_page import register_pages

# model name on the misbehaving server -> (words of the human sentence, text produced before the failure)
CASES = {
    "auth": ("refused the API key", ""),
    "forbidden": ("denied access", ""),
    "notfound": ("does not know this model", ""),
    "ratelimit": ("Retry after 7 s", ""),
    "error500": ("failed with an error (500)", ""),
    "error503": ("failed with an error (503)", ""),
    "hang": ("did not answer in time", ""),
    "stall": ("stopped sending for too long", "Hello "),
    "cut": ("broke off in the middle of the answer", "Streaming works: every "),
    "malformed": ("malformed stream", "Hello "),
}


def settings_for(server: FakeOpenAIServer, name: str) -> Settings:
    return Settings(model=f"openai:{name}", base_url=server.base_url, idle_timeout=0.5)


@pytest.mark.parametrize("name", CASES)
async def test_page_shows_the_failure_and_keeps_the_partial(
    user: User, fake_openai: FakeOpenAIServer, name: str
) -> None:
    words, partial = CASES[name]
    settings = settings_for(fake_openai, name)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "hello")
    await user.should_see(words, retries=100)
    assert answers(user)[-1] == partial
    assert "Incomplete" in status_text(user)
    await user.should_see("Send")
    await user.open("/")  # the failed turn is in the history, marked incomplete
    await user.should_see(words)


async def test_connection_refused_in_the_page_names_the_url(user: User) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(model="openai:x", base_url=url)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "hello")
    await user.should_see(f"Could not connect to the server at {url}", retries=100)


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
    await broken.should_see("broke off", retries=100)
    await wait_for(lambda: bool(answers(fine)) and answers(fine)[-1].endswith("the very end."))


@pytest.mark.parametrize("name", CASES)
def test_cli_prints_one_line_and_exits_1(fake_openai: FakeOpenAIServer, name: str) -> None:
    words, partial = CASES[name]
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "ask", "--model", f"openai:{name}", "--base-url", fake_openai.base_url,
         "--idle-timeout", "0.5", "hello"],
        capture_output=True, text=True, env=cli_env(), timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == (partial + "\n" if partial else "")
    assert result.stderr.startswith("error: ") and words in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", CASES)
async def test_ask_endpoint_reports_every_case(fake_openai: FakeOpenAIServer, name: str) -> None:
    words, partial = CASES[name]
    with run_api(make_model(f"openai:{name}", settings_for(fake_openai, name))) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{url}/ask", json={"prompt": "hi"})
            after = await client.post(f"{url}/ask", content=b"{}", headers={"Content-Type": "application/json"})
    if partial:
        assert response.status_code == 200
        assert response.text.startswith(partial + ERROR_MARK) and words in response.text
    else:
        assert response.status_code in {401, 429, 502, 504}
        assert words in response.json()["error"]
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
    user.find("Stop").click()
    stopped_at = time.monotonic()
    # Generous: on a loaded machine the event loop shares two cores with the generating engine.
    await wait_for(lambda: next(iter(user.find(marker="send").elements)).text == "Send")
    assert status_text(user).startswith("Stopped"), f"the answer ended without the stop: {status_text(user)!r}"
    while (await model.engine.metrics())["requests_processing"] > 0:
        assert time.monotonic() - stopped_at < 1.0, "the engine still generates 1 s after Stop"
    predicted = (await model.engine.metrics())["tokens_predicted_total"] - before["tokens_predicted_total"]
    assert predicted < 400 - 100, f"{predicted} tokens generated though Stop came after about {shown} words"
