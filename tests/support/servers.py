"""Starting, reaching and stopping the processes tests (and benchmarks) talk to: free ports, uvicorn, `main.py`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel

from llm.settings import Settings
from tests.support.chromium import CHROMIUM_ARGS as CHROMIUM_ARGS  # also importable from here, where it was

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "main.py")


def fresh_python(code: str, env: Mapping[str, str] | None = None) -> str:
    """What `code` prints when run in a fresh interpreter in the repository (it must succeed), with `env` added."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


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


def process_tree(pid: int) -> list[Any]:
    """The process `pid` and all its descendants (psutil processes; empty if it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def end_processes(procs: Sequence[Any], grace: float = 10.0) -> None:
    """SIGTERM each psutil process, wait up to `grace` s, SIGKILL what is left."""
    import psutil

    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


class ServerProcess:
    """A server subprocess that listens on 127.0.0.1:`port`, stopped by its PID (children included).

    The one start/stop helper of the tests and the benchmarks. `env` is the whole environment (None: this
    process's); output goes to `log` (or nowhere).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(
            list(argv),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0, path: str = "/") -> float:
        """Wait until the server answers HTTP on `path`; returns the seconds it took."""
        started = time.monotonic()
        try:
            wait_http(self.url + path, timeout, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise type(exc)(f"{exc}; its output ends with: {self.log_tail()}") from None
        return time.monotonic() - started

    def log_tail(self, chars: int = 800) -> str:
        if self.log is not None and self.log.exists():
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server (it ends its own children), then end whatever of its process tree is left."""
        if self._stopped:
            return
        self._stopped = True
        children = process_tree(self.proc.pid)[1:]
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(grace)
        end_processes([child for child in children if child.is_running()], grace)
        if self._out is not subprocess.DEVNULL:
            self._out.close()  # type: ignore[union-attr]

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def rivulet_server(
    *args: str, env: dict[str, str] | None = None, log: Path | None = None, timeout: float = 60.0
) -> Iterator[ServerProcess]:
    """Run `main.py` with `args` on a free 127.0.0.1 port until the block ends; `env` adds to `cli_env()`."""
    port = free_port()
    # PYTHONPATH: `--model py:<module>:...` may name a module of this repository (tests.support..., bench...)
    env = cli_env(**{"PYTHONPATH": str(ROOT), **(env or {})})
    with ServerProcess([sys.executable, MAIN, *args, "--port", str(port)], port=port, env=env, log=log) as server:
        server.wait_ready(timeout)
        yield server


@contextlib.contextmanager
def rivulet_process(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """Run `main.py` with `args` on a free 127.0.0.1 port; yields its URL. Output goes to `log`."""
    with rivulet_server(*args, env=env, log=log) as server:
        yield server.url


def cli_env(**extra: str) -> dict[str, str]:
    # PYTEST_CURRENT_TEST would switch NiceGUI's ui.run into its test mode.
    skip = ("RIVULET_", "OPENAI_", "PYTEST_", "NICEGUI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip) or k == "RIVULET_DATA_DIR"}
    return {**env, **extra}


def run_main(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, MAIN, *args], input=stdin, capture_output=True, text=True, env=cli_env(**env), timeout=120
    )
