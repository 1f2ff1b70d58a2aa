"""What the benchmarks' processes use (CPU seconds, resident memory), how busy the rest of the machine is, and a
watchdog that ends everything a benchmark started.

Everything is local: servers on 127.0.0.1, started by the benchmark (tests/support/servers.py's ServerProcess)
and ended by their PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tests.support.servers import end_processes, process_tree


def cpu_seconds(procs: Iterable[Any]) -> dict[int, float]:
    """user + system CPU seconds of each psutil process, by PID."""
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


def end_descendants(grace: float = 2.0) -> None:
    """End every process this script started (servers, browser, Playwright's driver), by PID."""
    import psutil

    end_processes(psutil.Process().children(recursive=True), grace)


def install_watchdog(seconds: float, what: str = "benchmark") -> threading.Timer:
    """Hard stop: after `seconds` (or on SIGTERM / SIGINT), end every process this script started and exit."""

    def fire() -> None:
        print(f"\n!! {what}: hard timeout after {seconds:.0f} s; stopping everything it started.", flush=True)
        with contextlib.suppress(Exception):
            end_descendants()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()

    def on_signal(signum: int, _frame: Any) -> None:
        with contextlib.suppress(Exception):
            end_descendants()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return timer


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
