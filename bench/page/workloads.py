"""The streaming workloads: the benchmark's model (bench/bench_model.py) streams an answer that ends with ENDMARK, in
one tab or several at once, into a freshly started app. W1-W3 (issue 5) are long Markdown documents; CODE2K/CODE4K
and TAB500/TAB1K (issue 13) are one long fenced code block or one long table (bench/long_blocks.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from bench.page import RAW
from bench.page.apps import app_server
from bench.page.browser import Browser
from bench.page.frames import analyze_frames
from bench.page.measure import measure


@dataclass
class Workload:
    name: str
    chunks: int  # for a shape: set from the shape's chunks by long_workload
    rate: float
    tabs: int = 1
    timeout: float = 30.0  # seconds from submit until the last tab must show ENDMARK
    shape: str | None = None  # None: bench_model's Markdown document; "code" or "table": bench/long_blocks.py
    size: int = 0  # lines of code or rows of the table

    @property
    def nominal_s(self) -> float | None:
        return (self.chunks - 1) / self.rate if self.rate else None

    def label(self) -> str:
        pace = "max" if not self.rate else f"{self.rate:g}/s"
        what = f"{self.size} {'lines' if self.shape == 'code' else 'rows'}, " if self.shape else ""
        return f"{self.name} ({what}{self.chunks}@{pace}" + (f" x{self.tabs} tabs)" if self.tabs > 1 else ")")

    def text(self) -> str:
        """The whole answer's Markdown."""
        from bench.bench_model import answer_chunks

        return "".join(answer_chunks({"shape": self.shape, "size": self.size}, self.chunks))


def long_workload(name: str, shape: str, size: int, timeout: float) -> Workload:
    """An issue 13 workload: one block of `shape` ("code" lines / "table" rows), as fast as the model yields."""
    from bench.long_blocks import shape_chunks

    return Workload(name, len(shape_chunks(shape, size)), 0.0, timeout=timeout, shape=shape, size=size)


#: Issue 13's growth pairs: (smaller, twice the size).
GROWTH_PAIRS = (("CODE2K", "CODE4K"), ("TAB500", "TAB1K"))


def workloads(args: argparse.Namespace) -> list[Workload]:
    """W1 = 5,000 chunks as fast as possible, W2 = 2,000 chunks at 200/s, W3 = W2 in 8 tabs at once; CODE2K/CODE4K =
    one fenced Python block of 2,000/4,000 lines, TAB500/TAB1K = one table of 500/1,000 rows, as fast as possible."""
    return [
        Workload("W1", 5000, 0.0, timeout=args.w1_timeout),
        Workload("W2", 2000, 200.0, timeout=args.w2_timeout),
        Workload("W3", 2000, 200.0, tabs=8, timeout=args.w3_timeout),
        long_workload("CODE2K", "code", 2000, args.long_timeout),
        long_workload("CODE4K", "code", 4000, args.long_timeout),
        long_workload("TAB500", "table", 500, args.long_timeout),
        long_workload("TAB1K", "table", 1000, args.long_timeout),
    ]


def bench_prompt(wl: Workload, tag: str) -> str:
    """A prompt that sets bench_model's answer (chunks or shape) and rate for this answer and tags its log lines."""
    if wl.shape:
        size = f"{'lines' if wl.shape == 'code' else 'rows'}={wl.size}"
        return f"Write a long answer. [bench shape={wl.shape} {size} rate={wl.rate:g} tag={tag}]"
    return f"Write a long answer. [bench chunks={wl.chunks} rate={wl.rate:g} tag={tag}]"


def answer_chars(wl: Workload) -> int:
    """The length of bench_model's answer for `wl` (its Markdown)."""
    return len(wl.text())


async def run_workload(pw: Any, app: str, wl: Workload, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run of `wl` on `app`: a fresh server, a fresh browser, the answer(s) measured; the run's record."""
    run_id = f"{app}-{wl.name}-r{rep}-{int(time.time())}"
    rundir = RAW / run_id
    rundir.mkdir(parents=True, exist_ok=True)
    rec: dict[str, Any] = {
        "kind": "workload",
        "app": app,
        "workload": wl.name,
        "label": wl.label(),
        "rep": rep,
        "chunks": wl.chunks,
        "rate": wl.rate,
        "tabs_n": wl.tabs,
        "timeout_s": wl.timeout,
        "shape": wl.shape,
        "size": wl.size,
        "answer_chars": answer_chars(wl),
        "run": run_id,
    }
    with app_server(app, "bench", rundir) as server:
        async with Browser(pw) as browser:
            opened = [await browser.open(server.url) for _ in range(wl.tabs)]
            await asyncio.sleep(args.settle)
            prompts = [bench_prompt(wl, f"{run_id}-t{i}") for i in range(wl.tabs)]
            result = await measure(
                server,
                browser,
                [p for _, p in opened],
                prompts,
                timeout=wl.timeout,
                rundir=rundir,
                capture_frames=args.capture_frames and wl.tabs == 1,
                prompt_selector=args.prompt_selector,
            )
            rec.update(result)
            for ctx, _ in opened:
                with contextlib.suppress(Exception):
                    await ctx.close()
    chars = rec["answer_chars"]
    for tab in rec["tabs"]:
        tab["bytes_per_answer_char"] = round(tab["ws_bytes"] / chars, 3) if chars else None
        tab["shown_pct"] = 100.0 if tab["ok"] else None
    rec["ok"] = all(t["ok"] for t in rec["tabs"])
    rec["tabs_finished"] = sum(t["ok"] for t in rec["tabs"])
    if wl.tabs == 1 and rec["tabs"]:
        t = rec["tabs"][0]
        done_ms = t["submit_ms"] + t["t_done_s"] * 1000 if t.get("t_done_s") is not None else None
        rec["frames"] = analyze_frames(rundir / "ws_frames_tab0.json", done_ms)
    return rec
