"""Shared fixtures: free ports, the misbehaving OpenAI-style server, a real llama.cpp server."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.language_models import BaseChatModel

from llm.engine import bundled_model_path
from llm.settings import Settings
from tests.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
#: Debian's Chromium, headless, with no background traffic (this machine has no network).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until `url` answers (any status), failing early if `proc` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer settings leak into tests: no RIVULET_*/OPENAI_* variables, no .env file."""
    for name in list(os.environ):
        if name.startswith(("RIVULET_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RIVULET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gguf_path() -> str:
    return str(bundled_model_path())


@pytest.fixture(scope="session")
def llama_server(gguf_path: str) -> Iterator[str]:
    """A real llama.cpp server (the engine's own, standalone) on the bundled SmolLM2 model; yields its /v1 URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "llm" / "engine_server.py"),
            "--standalone",
            f"--model={gguf_path}",
            f"--port={port}",
            "--context-tokens=2048",
            "--parallel=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = json.loads(proc.stdout.readline() or b"{}")  # type: ignore[union-attr]  # one line once it serves
        assert ready.get("address") == f"http://127.0.0.1:{port}", f"the engine did not start: {ready}"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian's chromium is not installed (make system-deps installs it)")
    return path


@contextlib.contextmanager
def run_api(model: BaseChatModel, **options: object) -> Iterator[str]:
    """Serve `POST /ask` for `model` with uvicorn on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn
    from fastapi import FastAPI

    from api.ask import register_api
    from llm.factory import ModelRegistry

    app = FastAPI()
    cors_origins = options.pop("cors_origins", ())
    settings = Settings(model="test", **options)
    register_api(app, ModelRegistry(settings, preset={"test": model}), settings, cors_origins)  # type: ignore[arg-type]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def rivulet_process(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """Run `main.py serve` with `args` on a free 127.0.0.1 port; yields its URL. Output goes to `log`."""
    # PYTEST_CURRENT_TEST would switch NiceGUI's ui.run into its test mode.
    skip = ("RIVULET_", "OPENAI_", "PYTEST_", "NICEGUI_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(skip) or k == "RIVULET_DATA_DIR"}
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *args, "--port", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()  # type: ignore[union-attr]


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(autouse=True)
def _forget_tasks_of_closed_loops() -> None:
    """Drop NiceGUI background tasks left over from an earlier test's (closed) event loop.

    A storage write scheduled just before a `user` test ends stays in NiceGUI's global task
    registry; the next test's shutdown would then wait on it forever ("The future belongs to
    a different loop"). Production has a single loop, so this only concerns tests.
    """
    from nicegui import background_tasks

    for name, task in list(background_tasks.lazy_tasks_running.items()):
        if task.get_loop().is_closed():
            del background_tasks.lazy_tasks_running[name]
    for task in list(background_tasks.running_tasks):
        if task.get_loop().is_closed():
            background_tasks.running_tasks.discard(task)
