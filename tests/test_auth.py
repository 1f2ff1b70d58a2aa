"""Password protection: `RIVULET_PASSWORD`, the login page, bearer tokens for `/ask`, rate limiting.

The server runs as `main.py` in a subprocess on 127.0.0.1; the login page is driven by headless Chromium.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import api.auth
from api.auth import AuthDecision, FailureLimiter, PasswordCheck, decide, is_loopback
from api.settings import ServerSettings
from llm.errors import ConfigError
from llm.fake import demo_words
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.page import wait_for
from tests.support.servers import MAIN, cli_env, free_port, run_main, wait_http

PASSWORD = "canary-Pa55word-7f3a9c"
FAKE = "fake:chunks=5,rate=0"
ANSWER = "".join(demo_words(5))  # what FAKE answers


@contextlib.contextmanager
def protected_server(folder: Path, password: str = PASSWORD, *args: str) -> Iterator[str]:
    """`main.py` with RIVULET_PASSWORD on a free 127.0.0.1 port; stdout and stderr go to `folder/server.log`.

    `args` are more command-line arguments (`--model FAKE` unless they name a model).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = cli_env(RIVULET_DATA_DIR=str(folder / "data"), RIVULET_PASSWORD=password)
    model = [] if "--model" in args else ["--model", FAKE]
    with open(folder / "server.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, MAIN, *model, *args, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,  # no developer .env file
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/login", proc=proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("protected")


@pytest.fixture(scope="module")
def server(server_dir: Path) -> Iterator[str]:
    with protected_server(server_dir) as url:
        yield url


def ask(url: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{url}/ask", json={"prompt": "hi"}, headers=headers, timeout=30)


async def log_in(page: Any, password: str) -> None:
    await page.fill("input[type=password]", password)
    await page.press("input[type=password]", "Enter")


# -- when auth is on: the decision, before anything binds ----------------------------------


def test_loopback_addresses() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", "192.168.1.20", "example.org", "localhost.example.org"):
        assert not is_loopback(host), host


def test_decision() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert decide(ServerSettings(host=host)) == AuthDecision(enabled=False, warning=None)
    with pytest.raises(ConfigError, match=r"RIVULET_PASSWORD.*--no-auth"):
        decide(ServerSettings(host="0.0.0.0"))
    with pytest.raises(ConfigError):
        decide(ServerSettings(host="0.0.0.0", password="   "))  # blank is not a password
    open_to_all = decide(ServerSettings(host="0.0.0.0", no_auth=True))
    assert not open_to_all.enabled and open_to_all.warning and "--no-auth" in open_to_all.warning
    assert "0.0.0.0:8080" in open_to_all.warning and "\n" not in open_to_all.warning
    for host in ("127.0.0.1", "0.0.0.0"):
        on = decide(ServerSettings(host=host, password=PASSWORD))
        assert on.enabled and not on.warning
    explicit = decide(ServerSettings(password=PASSWORD, no_auth=True))
    assert not explicit.enabled and "ignored" in (explicit.warning or "")


def test_password_comes_from_the_environment_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIVULET_PASSWORD", PASSWORD)
    settings = ServerSettings()
    assert settings.password is not None and settings.password.get_secret_value() == PASSWORD
    for shown in (settings.model_dump_json(), repr(settings), str(settings)):
        assert PASSWORD not in shown
    assert repr(PasswordCheck(settings.password)) == "PasswordCheck(**********)"
    with pytest.raises(ValueError):
        settings.password = None  # type: ignore[misc]  # frozen


def test_public_host_without_password_exits_2_before_binding() -> None:
    port = free_port()
    started = time.monotonic()
    result = run_main("--host", "0.0.0.0", "--port", str(port), "--model", FAKE)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "RIVULET_PASSWORD" in result.stderr and "--no-auth" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert time.monotonic() - started < 30


def test_no_password_flag() -> None:
    result = run_main("--password", PASSWORD, "--model", FAKE)  # it would show up in `ps`
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    assert "--no-auth" in run_main("serve", "--help").stdout


def test_failure_limiter_window(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(api.auth, "time", SimpleNamespace(monotonic=lambda: now[0]))  # the limiter's clock only
    limiter = FailureLimiter(limit=3, window=10)
    for _ in range(2):
        limiter.failed("10.0.0.1")
    assert limiter.wait("10.0.0.1") == 0
    now[0] += 2.5
    limiter.failed("10.0.0.1")
    assert limiter.wait("10.0.0.1") == 8  # until the first of the three is 10 s old, rounded up: 7.5 -> 8
    assert limiter.wait("10.0.0.2") == 0  # per address
    now[0] += 7.4
    assert limiter.wait("10.0.0.1") == 1  # never 0 while it still waits
    now[0] += 0.2
    assert limiter.wait("10.0.0.1") == 0  # the window passed
    for _ in range(3):
        limiter.failed("10.0.0.1")
    limiter.succeeded("10.0.0.1")
    assert limiter.wait("10.0.0.1") == 0  # a success resets


def test_password_check_is_exact_and_accepts_utf8_bytes() -> None:
    check = PasswordCheck(SecretStr("Wasserfall-🌊"))
    assert check.check("ip", "Wasserfall-🌊") and check.check("ip", "Wasserfall-🌊".encode())
    assert not check.check("ip", "Wasserfall-") and not check.check("ip", "wasserfall-🌊")
    assert not check.check("ip", "")


# -- a protected server ---------------------------------------------------------------------


def test_pages_redirect_to_login_and_assets_stay_reachable(server: str) -> None:
    for path in ("/", "/some/page", "/logout"):
        response = httpx.get(server + path)
        assert response.status_code == 307 and response.headers["location"] == "/login", path
    login = httpx.get(f"{server}/login")
    assert login.status_code == 200 and "<title>Rivulet: log in</title>" in login.text
    assert PASSWORD not in login.text
    assets = re.findall(r'"(/_nicegui/[^"]+?\.(?:js|css))"', login.text)
    assert assets
    for asset in assets[:5]:
        assert httpx.get(server + asset).status_code == 200, asset
    assert httpx.get(f"{server}/favicon.ico").status_code == 200


def test_ask_needs_the_bearer_token(server: str) -> None:
    missing = ask(server)
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = ask(server, "not-the-password")
    assert wrong.status_code == 401 and "Wrong password" in wrong.json()["error"]
    assert PASSWORD not in missing.text + wrong.text
    with httpx.stream(
        "POST", f"{server}/ask", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {PASSWORD}"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        reads = list(response.iter_text())
    assert "".join(reads) == ANSWER


def test_cors_still_works_with_auth(server: str) -> None:
    origin = {"Origin": "http://localhost:5173"}
    preflight = httpx.options(
        f"{server}/ask",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    refused = ask(server, **origin)  # a cross-origin page can read why it was refused
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert ask(server, PASSWORD, **origin).status_code == 200


def test_ask_url_uses_rivulet_password(server: str) -> None:
    result = run_main("ask", "--url", server, "hi", RIVULET_PASSWORD=PASSWORD)
    assert (result.returncode, result.stdout, result.stderr) == (0, ANSWER + "\n", "")
    wrong = run_main("ask", "--url", server, "hi", RIVULET_PASSWORD="not-the-password")
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == "error: Wrong password in the bearer token.\n"


async def test_login_page_flow(server: str, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(server + "/")
    assert page.url == f"{server}/login"
    await page.wait_for_selector("input[type=password]")
    await log_in(page, "not-the-password")
    await page.get_by_text("Wrong password.").wait_for()
    await page.wait_for_function("() => document.querySelector('input[type=password]').value === ''")  # not kept
    await log_in(page, PASSWORD)
    await page.wait_for_url(f"{server}/")
    await page.wait_for_selector("textarea")  # the chat page
    assert PASSWORD not in await page.content()
    # the logged-in browser session may call /ask without a token
    status = await page.evaluate(
        """async () => (await fetch('/ask', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          body: JSON.stringify({prompt: 'hi'})})).status"""
    )
    assert status == 200
    await page.goto(f"{server}/login")  # already logged in: straight back to the chat
    assert page.url == f"{server}/"
    await page.goto(f"{server}/logout")
    assert page.url == f"{server}/login"
    await page.goto(server + "/")
    assert page.url == f"{server}/login"


async def test_wrong_passwords_are_rate_limited(tmp_path: Path, browser: Any) -> None:
    with protected_server(tmp_path) as url:
        for _ in range(3):
            assert ask(url, "guess").status_code == 401
        page = await browser.new_page()
        await page.goto(f"{url}/login")
        await page.wait_for_selector("input[type=password]")
        await log_in(page, "guess-4")
        await page.get_by_text("Wrong password.").wait_for()
        await log_in(page, "guess-5")  # the fifth failure, API and page together
        await page.get_by_text("Too many wrong passwords").wait_for()
        blocked = ask(url, "guess-6")
        assert blocked.status_code == 429 and "Too many" in blocked.json()["error"]
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert ask(url, PASSWORD).status_code == 429  # even the right password waits
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        # And in the page: each try is refused anew, so the wait it shows counts down. Once it has changed,
        # the server has handled the right password (and every try before it) without logging in.
        alert = page.get_by_role("alert")
        refused = await alert.inner_text()
        deadline = time.monotonic() + 10
        while (await alert.inner_text()) == refused:
            assert time.monotonic() < deadline, "the page did not answer the right password while blocked"
            await log_in(page, PASSWORD)
            with contextlib.suppress(PlaywrightTimeout):
                changed = "text => document.querySelector('[role=alert]').innerText !== text"
                await page.wait_for_function(changed, arg=refused, timeout=250)
        assert page.url == f"{url}/login"
        assert re.fullmatch(r"Too many wrong passwords: wait \d+ s before trying again\.", await alert.inner_text())
    log = (tmp_path / "server.log").read_text()
    assert "5 wrong passwords from 127.0.0.1: refusing it for up to 60 s." in log and PASSWORD not in log


async def test_the_password_never_leaks(tmp_path: Path, browser: Any) -> None:
    """Wrong and right passwords in the page and the API: not in the server's output nor in anything it stored."""
    prompt = "Is the password anywhere?"
    with protected_server(tmp_path) as url:
        assert ask(url, "wrong-" + PASSWORD).status_code == 401
        assert ask(url, PASSWORD).status_code == 200
        page = await browser.new_page()
        await page.goto(f"{url}/login")
        await page.wait_for_selector("input[type=password]")
        await log_in(page, PASSWORD[::-1])
        await page.get_by_text("Wrong password.").wait_for()
        await log_in(page, PASSWORD)
        await page.wait_for_url(f"{url}/")
        await page.fill(".prompt textarea", prompt)
        await page.press(".prompt textarea", "Enter")
        await page.locator(".answer-status", has_text="5 chunks").wait_for()
        assert PASSWORD not in await page.content()
        conversations = tmp_path / "data" / "conversations"

        def saved() -> bool:  # the answer's save follows its last chunk on the page
            files = list(conversations.glob("*/c-*.json"))
            return any(ANSWER in path.read_text() for path in files)

        await wait_for(saved)
    log = (tmp_path / "server.log").read_text()
    assert "Rivulet: http://127.0.0.1:" in log and PASSWORD not in log
    stored = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
    assert any(prompt in path.read_text(errors="replace") for path in stored)
    for path in stored:
        assert PASSWORD not in path.read_text(errors="replace"), path
        assert PASSWORD[::-1] not in path.read_text(errors="replace"), path


async def test_a_client_that_goes_away_still_cancels_the_model_with_a_password(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    """The auth middleware must not hold a streaming answer: a disconnect reaches the provider at once."""
    with protected_server(tmp_path, PASSWORD, "--model", "openai:slow", "--base-url", fake_openai.base_url) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {"Authorization": f"Bearer {PASSWORD}"}
            async with client.stream("POST", f"{url}/ask", json={"prompt": "hi"}, headers=headers) as response:
                assert response.status_code == 200
                received = ""
                async for text in response.aiter_text():
                    received += text
                    if received.count(" ") >= 3:  # three of the slow model's chunks, one every 0.1 s
                        break
            closed_at = time.monotonic()
        assert received.startswith("w0 w1 w2 ")
        await wait_for(lambda: bool(fake_openai.times("closed", "slow")), limit=1.0)
        assert fake_openai.times("closed", "slow")[0] - closed_at < 1.0
        assert fake_openai.times("request", "slow") == fake_openai.times("request")  # one answer, not retried
        assert len(fake_openai.times("request")) == 1


# -- behind a proxy: whose address the rate limit counts -----------------------------------


def proxied_app(trusted: str, passwords: PasswordCheck) -> Any:
    """`/ask` behind the auth middleware, wrapped as uvicorn wraps the served app for `trusted` proxies."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    app.post("/ask")(lambda: {"ok": True})
    app.add_middleware(api.auth.AuthMiddleware, passwords=passwords)
    options = ServerSettings(forwarded_allow_ips=trusted).uvicorn_proxy_options()
    config = uvicorn.Config(app, log_config=None, **options)
    config.load()
    return config.loaded_app


async def wrong_token(app: Any, peer: str, forwarded_for: str | None = None) -> int:
    headers = {"Authorization": "Bearer guess"} | ({"X-Forwarded-For": forwarded_for} if forwarded_for else {})
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://rivulet") as client:
        return (await client.post("/ask", headers=headers)).status_code


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> PasswordCheck:
    check = PasswordCheck(SecretStr(PASSWORD))
    monkeypatch.setattr(check, "logged_in", lambda: False)  # no NiceGUI session in this bare app
    return check


async def test_a_spoofed_forwarded_for_does_not_dodge_the_limit(passwords: PasswordCheck) -> None:
    """By default no proxy is trusted: X-Forwarded-For is ignored, even from 127.0.0.1 (uvicorn alone trusts it)."""
    app = proxied_app("", passwords)
    statuses = [await wrong_token(app, "127.0.0.1", f"203.0.113.{n}") for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert passwords.limiter.wait("127.0.0.1") > 0 and set(passwords.limiter._failures) == {"127.0.0.1"}


async def test_the_real_client_counts_behind_a_trusted_proxy(passwords: PasswordCheck) -> None:
    app = proxied_app("127.0.0.1", passwords)
    assert [await wrong_token(app, "127.0.0.1", "203.0.113.5") for _ in range(6)] == [401] * 5 + [429]
    assert await wrong_token(app, "127.0.0.1", "203.0.113.6") == 401  # another client behind the proxy: its own count
    assert await wrong_token(app, "127.0.0.1") == 401  # the proxy itself is not blocked for its clients
    # A peer that is not the proxy cannot name a client: its header is ignored, its own address counts.
    assert await wrong_token(app, "198.51.100.7", "203.0.113.5") == 401
    assert set(passwords.limiter._failures) == {"203.0.113.5", "203.0.113.6", "127.0.0.1", "198.51.100.7"}


def test_forwarded_allow_ips_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServerSettings().uvicorn_proxy_options() == {"proxy_headers": False}
    monkeypatch.setenv("RIVULET_FORWARDED_ALLOW_IPS", "127.0.0.1, 10.0.0.0/8")
    assert ServerSettings().forwarded_allow_ips == ["127.0.0.1", "10.0.0.0/8"]
    assert ServerSettings.load(forwarded_allow_ips="::1").uvicorn_proxy_options() == {
        "proxy_headers": True,
        "forwarded_allow_ips": "::1",
    }
    result = run_main("--forwarded-allow-ips", "my-proxy", "--model", FAKE)
    assert result.returncode == 2 and "'my-proxy' is not an IP address or network" in result.stderr
    assert result.stderr.count("\n") == 1


async def test_page_login_and_bearer_share_the_forwarded_address(tmp_path: Path, browser: Any) -> None:
    """Behind a trusted proxy, wrong bearer tokens and wrong page logins of one client add up, under its address."""
    client = "203.0.113.5"
    with protected_server(tmp_path, PASSWORD, "--forwarded-allow-ips", "127.0.0.1") as url:
        for _ in range(4):
            assert ask(url, "guess", **{"X-Forwarded-For": client}).status_code == 401
        assert ask(url, "guess").status_code == 401  # the proxy's own address: another count
        context = await browser.new_context(extra_http_headers={"X-Forwarded-For": client})
        page = await context.new_page()
        await page.goto(f"{url}/login")
        await page.wait_for_selector("input[type=password]")
        await log_in(page, "guess-5")  # the client's fifth failure
        await page.get_by_text("Too many wrong passwords").wait_for()
        assert ask(url, PASSWORD).status_code == 200  # 127.0.0.1 itself is not blocked
    log = (tmp_path / "server.log").read_text()
    assert f"5 wrong passwords from {client}: refusing it" in log and "from 127.0.0.1" not in log


# -- a new password ends existing logins ---------------------------------------------------


def test_the_session_keeps_a_fingerprint_of_the_password_not_the_password() -> None:
    first = PasswordCheck(SecretStr(PASSWORD), salt="install-secret-1")
    assert PASSWORD not in first.fingerprint and len(first.fingerprint) == 64
    assert first.accepts(first.fingerprint)
    again = PasswordCheck(SecretStr(PASSWORD), salt="install-secret-1")  # a restart, or another instance
    assert again.accepts(first.fingerprint)
    assert not PasswordCheck(SecretStr(PASSWORD + "!"), salt="install-secret-1").accepts(first.fingerprint)
    assert PasswordCheck(SecretStr(PASSWORD), salt="install-secret-2").fingerprint != first.fingerprint
    for stored in (True, None, "", first.fingerprint.upper()):  # e.g. True: what a login stored before
        assert not first.accepts(stored)


async def test_a_new_password_ends_existing_logins(tmp_path: Path, browser: Any) -> None:
    """Log in, restart with another password: logged out; restart with the first again: still logged in."""
    storage = tmp_path / "data" / "storage"

    def login_saved() -> bool:  # NiceGUI writes its storage files a moment after a change
        return any('"login"' in path.read_text() for path in storage.glob("storage-user-*.json"))

    page = await browser.new_page()  # cookies are per host, not per port: the browser's session survives restarts
    with protected_server(tmp_path, PASSWORD) as url:
        await page.goto(f"{url}/login")
        await page.wait_for_selector("input[type=password]")
        await log_in(page, PASSWORD)
        await page.wait_for_url(f"{url}/")
        await wait_for(login_saved)
    with protected_server(tmp_path, "a-new-password-42") as url:
        await page.goto(f"{url}/")
        assert page.url == f"{url}/login"
        assert ask(url, PASSWORD).status_code == 401
    with protected_server(tmp_path, PASSWORD) as url:
        await page.goto(f"{url}/")
        assert page.url == f"{url}/"  # the same password: the login holds
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path
