"""One headless Chromium (Debian's, started by tests/support/chromium.py) for a group of runs, and its pages:
each a fresh browser context with the benchmark's instrumentation (instrument.js) and a CDP session for the
renderer's own timings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from tests.support.chromium import launch
from tests.support.servers import end_processes, process_tree

#: The in-page instrumentation, read when the benchmark starts (see the comment at its top).
INSTRUMENT_JS = (Path(__file__).parent / "instrument.js").read_text()
#: The answer's element in both apps: the last match is the newest answer.
ANSWER_SELECTOR = ".answer-body"
READY_JS = (
    "() => !!(window.socket && window.socket.connected && window.did_handshake && document.querySelector('textarea'))"
)
#: The renderer's figures kept per answer (CDP Performance.getMetrics, differences over the answer).
PERF_KEYS = (
    "TaskDuration",
    "ScriptDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "LayoutCount",
    "RecalcStyleCount",
)


def chromium_root_pid() -> int | None:
    """The Chromium browser process (not a renderer) among this script's descendants."""
    import psutil

    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if cmd and "chrom" in os.path.basename(cmd[0]) and not any(a.startswith("--type=") for a in cmd):
            return proc.pid
    return None


class Browser:
    """One headless Chromium for a group of runs; `procs()` is its process tree (for its CPU time)."""

    def __init__(self, pw: Any) -> None:
        self.pw = pw
        self.browser: Any = None
        self.pid: int | None = None
        self._cdp: dict[int, Any] = {}  # CDP sessions of open pages, by id(page)

    async def __aenter__(self) -> Browser:
        self.browser = await launch(self.pw)
        self.pid = chromium_root_pid()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.browser.close(), 15)
        if self.pid:
            end_processes(process_tree(self.pid), grace=2)

    def procs(self) -> list[Any]:
        return process_tree(self.pid) if self.pid else []

    async def open(self, url: str) -> tuple[Any, Any]:
        """A new context (its own window: no background-tab throttling) with one ready, instrumented page."""
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        await ctx.add_init_script(INSTRUMENT_JS)
        page = await ctx.new_page()
        with contextlib.suppress(Exception):  # renderer-side timings (script, layout, style) for the diagnosis
            cdp = await ctx.new_cdp_session(page)
            await cdp.send("Performance.enable")
            self._cdp[id(page)] = cdp
        await page.goto(url, wait_until="load", timeout=30_000)
        await page.wait_for_function(READY_JS, timeout=30_000, polling=50)
        await page.evaluate("(selector) => window.__benchObserve(selector)", ANSWER_SELECTOR)
        return ctx, page

    async def perf_metrics(self, page: Any) -> dict[str, float]:
        """The renderer's CDP performance metrics of `page` now ({} without a CDP session)."""
        cdp = self._cdp.get(id(page))
        if cdp is None:
            return {}
        try:
            got = await cdp.send("Performance.getMetrics")
        except Exception:
            return {}
        return {m["name"]: m["value"] for m in got.get("metrics", [])}


async def clock_offset(page: Any) -> float:
    """Seconds to subtract from page epoch time to get Python time.time() (min-RTT estimate)."""
    best = None
    for _ in range(7):
        a = time.time()
        v = await page.evaluate("performance.timeOrigin + performance.now()") / 1000
        b = time.time()
        if best is None or b - a < best[1]:
            best = (v - (a + b) / 2, b - a)
    return best[0] if best else 0.0
