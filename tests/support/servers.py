"""Starting and reaching the processes tests (and benchmarks) talk to: free ports, uvicorn, `main.py`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from langchain_core.language_models import BaseChatModel

from llm.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
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


MAIN = str(ROOT / "main.py")


def cli_env(**extra: str) -> dict[str, str]:
    # PYTEST_CURRENT_TEST would switch NiceGUI's ui.run into its test mode.
    skip = ("RIVULET_", "OPENAI_", "PYTEST_", "NICEGUI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip) or k == "RIVULET_DATA_DIR"}
    return {**env, **extra}


def run_main(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, MAIN, *args], input=stdin, capture_output=True, text=True, env=cli_env(**env), timeout=120
    )
