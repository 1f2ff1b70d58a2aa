"""The order of a benchmark run: each workload's repetitions on each app (an app that did not finish a workload is
not given it again), then EMB, then MEM (once per `--mem-shape`); every record written as it comes, a progress line
per run."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from bench.page.embedded import run_embedded
from bench.page.figures import shown_pct, workload_runs
from bench.page.memory import run_memory
from bench.page.memory_long import MEM_SIZES, run_memory_long
from bench.page.workloads import GROWTH_PAIRS, Workload, answer_chars, run_workload
from bench.tables import fmt


class Results:
    """The run's records, kept in memory and appended to the JSON-lines file `out` one by one."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.records: list[dict[str, Any]] = []
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")

    def emit(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        with self.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")


def failed_run(app: str, wl: Workload, rep: int, exc: Exception) -> dict[str, Any]:
    """The record of a run that raised (the app did not start, the browser failed, the run timed out...)."""
    return {
        "kind": "workload",
        "app": app,
        "workload": wl.name,
        "label": wl.label(),
        "rep": rep,
        "ok": False,
        "tabs": [],
        "error": f"{type(exc).__name__}: {exc}"[:500],
        "answer_chars": answer_chars(wl),
        "server_cpu_s": None,
        "browser_cpu_s": None,
        "server_rss_before_mb": None,
        "server_rss_after_mb": None,
        "background": {"foreign_cores": None},
    }


def progress(rec: dict[str, Any]) -> str:
    """The end of a run's progress line."""
    tabs = rec["tabs"]
    if rec.get("error"):
        return f"ERROR {rec['error']}"
    if len(tabs) == 1:
        t = tabs[0]
        return (
            ("done" if t["ok"] else f"DNF ({fmt(t['shown_pct'], '{:.0f}')}% shown)")
            + f" t_first {fmt(t['t_first_s'])} t_done {fmt(t['t_done_s'], '{:.2f}')} "
            f"model {fmt(t.get('model_s'), '{:.2f}')} lag {fmt(t.get('lag_s'))} "
            f"bytes {t['ws_bytes'] / rec['answer_chars']:.2f}x srv_cpu {rec['server_cpu_s']} "
            f"brw_cpu {rec['browser_cpu_s']} gap {fmt(t.get('max_gap_s'))} "
            f"longest_task {fmt(t.get('longest_task_ms'), '{:.0f}')} ms "
            f"from_bottom {fmt(t.get('scroll_gap_px'), '{:.0f}')} px "
            f"other {rec['background']['foreign_cores']:.2f} cores"
        )
    lags = [fmt(t.get("lag_s"), "{:.2f}") for t in tabs]
    return (
        f"{rec['tabs_finished']}/{len(tabs)} tabs finished, lags {' '.join(lags)}, "
        f"srv_cpu {rec['server_cpu_s']} brw_cpu {rec['browser_cpu_s']} "
        f"other {rec['background']['foreign_cores']:.2f} cores"
    )


async def run_all(
    args: argparse.Namespace,
    workloads: list[Workload],
    apps: list[str],
    only: set[str],
    results: Results,
    t0: float,
) -> None:
    """Every run `args` asks for, in order, with Playwright started once; `results` gets each record. Progress
    lines show the seconds since `t0`."""
    from playwright.async_api import async_playwright

    records = results.records
    async with async_playwright() as pw:
        for wl in workloads:
            for rep in range(1, max(args.reps, args.naive_reps) + 1):
                for app in apps:
                    if rep > (args.reps if app == "rivulet" else args.naive_reps):
                        continue
                    prev = workload_runs(records, app, wl.name)
                    if prev and not args.no_dnf_skip and not any(r["ok"] for r in prev):
                        continue  # it did not finish before: another timeout would only cost time
                    small = next((a for a, b in GROWTH_PAIRS if b == wl.name), None)
                    smaller = workload_runs(records, app, small) if small else []
                    if smaller and not args.no_dnf_skip and not any(r["ok"] for r in smaller):
                        continue  # it did not finish the half-size block: the whole one would not either
                    print(f"[{time.time() - t0:6.0f}s] {app:8s} {wl.label()} rep {rep} ...", end=" ", flush=True)
                    try:
                        rec = await asyncio.wait_for(
                            run_workload(pw, app, wl, rep, args), wl.timeout + args.run_timeout
                        )
                    except Exception as exc:
                        rec = failed_run(app, wl, rep, exc)
                    for tab in rec["tabs"]:
                        tab["shown_pct"] = shown_pct([*records, rec], tab, wl.name)
                    results.emit(rec)
                    print(progress(rec), flush=True)
        if "EMB" in only:
            print(f"[{time.time() - t0:6.0f}s] embedded model: the raw engine vs the pages ...", flush=True)
            try:
                for rec in await asyncio.wait_for(
                    run_embedded(pw, args, apps), args.run_timeout + (args.reps + 1) * 3 * args.emb_timeout
                ):
                    results.emit(rec)
            except Exception as exc:
                print(f"    embedded: ERROR {type(exc).__name__}: {exc}", flush=True)
                results.emit({"kind": "embedded_error", "error": f"{type(exc).__name__}: {exc}"[:500]})
        if "MEM" in only and "rivulet" in apps:
            for shape in mem_shapes(args):
                await _memory(pw, args, shape, results, t0)


def mem_shapes(args: argparse.Namespace) -> list[str]:
    """The memory checks `--mem-shape` asks for, in order ("markdown": issue 5's; "code", "table": issue 13's)."""
    return [x.strip() for x in args.mem_shape.split(",") if x.strip() in ("markdown", *MEM_SIZES)]


async def _memory(pw: Any, args: argparse.Namespace, shape: str, results: Results, t0: float) -> None:
    """One memory check, its record emitted (or its error)."""
    if shape == "markdown":
        what = f"{args.mem_answers} W1 answers in one tab, then {args.mem_tabs} tabs opened and closed"
        budget = args.run_timeout + args.mem_answers * (args.w1_timeout + 2) + args.mem_tabs * 25
        job = run_memory(pw, args)
    else:
        unit = "lines" if shape == "code" else "rows"
        what = f"{args.mem_long_answers} {shape} answers ({MEM_SIZES[shape]} {unit}), each in a tab closed after it"
        budget = args.run_timeout + args.mem_long_answers * (args.long_timeout + 10)
        job = run_memory_long(pw, args, shape)
    print(f"[{time.time() - t0:6.0f}s] memory check ({shape}): {what} ...", flush=True)
    try:
        results.emit(await asyncio.wait_for(job, budget))
    except Exception as exc:
        print(f"    memory ({shape}): ERROR {type(exc).__name__}: {exc}", flush=True)
        results.emit({"kind": "memory_error", "shape": shape, "error": f"{type(exc).__name__}: {exc}"[:500]})
