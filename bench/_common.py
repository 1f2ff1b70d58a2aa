"""Helpers shared by the benchmark scripts in bench/ (not a test module, no pytest here).

Everything here is local: servers on 127.0.0.1, processes started by the benchmark and
ended by their PID (never by name).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: The prompt of the embedded-model comparisons (TASK 1 and the page benchmark).
MOBY_PROMPT = "Summarize the plot of Moby-Dick in detail."

# Make `import llm…` and `import bench…` work from any working directory.
for _p in (str(ROOT), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


# -- processes -----------------------------------------------------------------------------------------
#: PIDs of the servers this process started and has not yet stopped (for the watchdog / signals).
LIVE_PIDS: set[int] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(pid: int, grace: float = 5.0) -> None:
    """Terminate a process this benchmark started, and its descendants, by PID."""
    import psutil

    procs = process_tree(pid)
    for proc in reversed(procs):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    LIVE_PIDS.discard(pid)


def cpu_seconds(procs: Iterable[Any]) -> dict[int, float]:
    import psutil

    out: dict[int, float] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def rss_mb(procs: Iterable[Any]) -> float:
    import psutil

    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total / 2**20


class Server:
    """A server subprocess on a free 127.0.0.1 port; `stop()` ends it by PID."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        log_path: Path | None = None,
        ready_path: str = "/",
        cleanup: Sequence[Path] = (),
    ) -> None:
        self.cleanup = list(cleanup)  # folders removed after the server stopped
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_path = log_path
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        LIVE_PIDS.add(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait until the server answers HTTP; returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        url = self.url + self.ready_path
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early with code {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status < 500:
                        return time.monotonic() - start
            except Exception:
                time.sleep(0.1)
        raise TimeoutError(f"server did not answer {url} within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 800) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        kill_tree(self.proc.pid)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        for folder in self.cleanup:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def install_watchdog(seconds: float, what: str = "benchmark") -> threading.Timer:
    """Hard stop: after `seconds`, kill every server still running and exit with code 3."""

    def fire() -> None:
        print(f"\n!! {what}: hard timeout after {seconds:.0f} s; stopping everything it started.", flush=True)
        for pid in list(LIVE_PIDS):
            with contextlib.suppress(Exception):
                kill_tree(pid, grace=2)
        kill_descendants()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()

    def on_signal(signum: int, _frame: Any) -> None:
        for pid in list(LIVE_PIDS):
            with contextlib.suppress(Exception):
                kill_tree(pid, grace=2)
        kill_descendants()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return timer


def kill_descendants() -> None:
    """End the processes this script started (browser, Playwright driver), by PID."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


# -- figures -------------------------------------------------------------------------------------------
def median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(b: float | None, a: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return b / a


def fmt(value: Any, spec: str = "{:.3f}") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return spec.format(value)


def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, columns padded so it reads well in a terminal too."""
    cells = [[str(c) for c in head], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells[1:]]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    import platform

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(Exception):
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=5)
        info["git_dirty"] = bool(dirty.stdout.strip())
    return info


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class ForeignLoad:
    """CPU used by processes this benchmark did not start, over a window (other work on the machine).

    `foreign_cpu_s` = all CPU busy seconds of the machine minus those of this process tree and of the
    extra PIDs (servers) passed to `stop()`. On a 2-core machine, anything above a few tenths of a
    second per second of window means the figures of that window are disturbed.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.t0 = time.monotonic()
        self.sys0 = self._busy()
        self.own0 = self._own([])

    def _busy(self) -> float:
        t = self._psutil.cpu_times()
        return t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    def _own(self, extra: Sequence[int]) -> dict[int, float]:
        procs = process_tree(os.getpid())
        for pid in extra:
            procs += process_tree(pid)
        return cpu_seconds({p.pid: p for p in procs}.values())

    def restart(self, extra: Sequence[int] = ()) -> None:
        self.t0 = time.monotonic()
        self.sys0 = self._busy()
        self.own0 = self._own(extra)

    def stop(self, extra: Sequence[int] = ()) -> dict[str, float]:
        window = time.monotonic() - self.t0
        busy = self._busy() - self.sys0
        own = cpu_delta(self.own0, self._own(extra))
        foreign = max(0.0, busy - own)
        return {
            "window_s": round(window, 3),
            "machine_busy_cpu_s": round(busy, 3),
            "foreign_cpu_s": round(foreign, 3),
            "foreign_cores": round(foreign / window, 3) if window > 0 else 0.0,
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }


def wait_quiet(max_wait: float = 60.0, threshold_cores: float = 0.3, sample: float = 2.0) -> dict[str, float]:
    """Wait (at most `max_wait` s) until processes we did not start use < `threshold_cores` of CPU."""
    start = time.monotonic()
    last: dict[str, float] = {}
    while True:
        probe = ForeignLoad()
        time.sleep(sample)
        last = probe.stop()
        if last["foreign_cores"] < threshold_cores or time.monotonic() - start >= max_wait:
            last["waited_s"] = round(time.monotonic() - start, 1)
            return last
