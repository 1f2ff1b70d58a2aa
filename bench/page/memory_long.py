"""MEM with `--mem-shape code` or `table` (issue 13, Rivulet only): long single-block answers (CODE4K-like: 4,000
lines of code, or TAB1K-like: 1,000 table rows), each in its own new tab that is closed after its answer. Is the
server's RSS back where it started once they are all closed?"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from bench.page import RAW
from bench.page.apps import app_server
from bench.page.browser import Browser
from bench.page.measure import measure
from bench.page.memory import Sampler
from bench.page.workloads import bench_prompt, long_workload
from bench.tables import fmt

#: The answer of each shape's memory check: the larger workload of its growth pair.
MEM_SIZES = {"code": 4000, "table": 1000}


async def run_memory_long(pw: Any, args: argparse.Namespace, shape: str) -> dict[str, Any]:
    """`args.mem_long_answers` answers of `shape`, one fresh tab each (closed after it); RSS samples throughout.

    The reference ("start") is the server with one page served and open (a first tab, kept open as a control
    until the end); "end" is `--mem-settle` s after the last answer's tab closed, the first tab still open.
    """
    run_id = f"MEM-{shape}-{int(time.time())}"
    rundir = RAW / run_id
    wl = long_workload(f"MEM-{shape}", shape, MEM_SIZES[shape], args.long_timeout)
    n = args.mem_long_answers
    rec: dict[str, Any] = {"kind": "memory", "app": "rivulet", "shape": shape, "label": wl.label(), "answers": n}
    rec["tabs"] = 0
    answers: list[dict[str, Any]] = []
    rec["answer_figures"] = answers
    failures = 0
    with app_server("rivulet", "bench", rundir, probe=args.mem_probe) as server:
        sample = Sampler(server, args.mem_probe)
        async with Browser(pw) as browser:
            ctx0, _ = await browser.open(server.url)
            await asyncio.sleep(args.mem_settle)
            start = sample("start: first tab open")
            for k in range(1, n + 1):
                if time.time() - sample.t0 > args.mem_budget and k > 6:
                    rec["stopped_early"] = f"answer budget of {args.mem_budget:g} s used up after {k - 1} of {n}"
                    print(f"    MEM {shape} {rec['stopped_early']}", flush=True)
                    break
                ctx, page = await browser.open(server.url)
                result = await measure(
                    server,
                    browser,
                    [page],
                    [bench_prompt(wl, f"{run_id}-a{k}")],
                    timeout=wl.timeout,
                    rundir=rundir,
                    tail=0.3,
                    prompt_selector=args.prompt_selector,
                )
                with contextlib.suppress(Exception):
                    await ctx.close()
                tab = result["tabs"][0]
                failures += not tab["ok"]
                answers.append(
                    {
                        "answer": k,
                        "ok": tab["ok"],
                        "t_first_s": tab["t_first_s"],
                        "t_done_s": tab["t_done_s"],
                        "ws_bytes": tab["ws_bytes"],
                        "server_cpu_s": result["server_cpu_s"],
                        "browser_cpu_s": result["browser_cpu_s"],
                        "longest_task_ms": tab.get("longest_task_ms"),
                        "rss_after_mb": result["server_rss_after_mb"],
                        "other_cores": result["background"]["foreign_cores"],
                    }
                )
                if k in (1, 5) or k % 5 == 0:
                    sample(f"after answer {k}", t_done_s=tab["t_done_s"], ok=tab["ok"])
                    print(
                        f"    MEM {shape} answer {k} (its tab closed): t_done {fmt(tab['t_done_s'], '{:.2f}')} s, "
                        f"server CPU {result['server_cpu_s']} s, RSS {sample.samples[-1]['rss_mb']} MB",
                        flush=True,
                    )
                if failures >= 3:
                    rec["error"] = "3 answers did not finish: memory check stopped"
                    break
            await asyncio.sleep(args.mem_settle)
            end = sample(f"end: {args.mem_settle:g} s after the last tab closed (first tab still open)")
            with contextlib.suppress(Exception):
                await ctx0.close()
            await asyncio.sleep(args.mem_settle)
            sample("first tab closed too")
    by = {s["at"]: s["rss_mb"] for s in sample.samples}
    rec.update(
        {
            "samples": sample.samples,
            "rss_start_mb": round(start, 1),
            "rss_after_1_mb": by.get("after answer 1"),
            "rss_end_mb": round(end, 1),
            "growth_from_start_mb": round(end - start, 1),
            "answer_failures": failures,
            "duration_s": round(time.time() - sample.t0, 1),
        }
    )
    return rec
