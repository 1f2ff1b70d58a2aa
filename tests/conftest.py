"""Shared fixtures: free ports, the misbehaving OpenAI-style server, a real llama.cpp server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm.engine import bundled_model_path
from llm.settings import Settings
from tests.support.chromium import MISSING, chromium_path, open_browser
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.redis_server import redis_server  # noqa: F401  (a fixture)
from tests.support.servers import ROOT, free_port


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
    path = chromium_path()
    if not path:
        pytest.skip(MISSING)
    return path


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    async with open_browser(chromium) as instance:
        yield instance


@pytest.fixture
def sent_bytes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every `update` message the server sends to the page, as JSON."""
    from nicegui import core as nicegui_core

    sizes: list[int] = []
    original = nicegui_core.sio.emit

    async def emit(event: str, data: Any = None, **kwargs: Any) -> Any:
        if event == "update":
            sizes.append(len(json.dumps(data, default=str)))
        return await original(event, data, **kwargs)

    monkeypatch.setattr(nicegui_core.sio, "emit", emit)
    yield sizes


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
