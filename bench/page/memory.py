"""MEM (Rivulet only): many W1 answers in one tab, then many tabs opened and closed; does the server's memory
grow? With `--mem-probe`, Rivulet runs through bench/probe_server.py, whose `GET /__bench/objects` counts
clients, elements and tasks after `gc.collect()` at each sample."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import urllib.request
from typing import Any

from bench.page import RAW
from bench.page.apps import app_server
from bench.page.browser import Browser
from bench.page.measure import measure
from bench.page.workloads import Workload, bench_prompt
from bench.processes import rss_mb
from bench.tables import fmt
from tests.support.servers import ServerProcess, process_tree


class Sampler:
    """Server RSS samples (and, through probe_server, live objects after gc), labelled, seconds since the start."""

    def __init__(self, server: ServerProcess, probe: bool) -> None:
        self.server, self.probe, self.t0 = server, probe, time.time()
        self.samples: list[dict[str, Any]] = []

    def __call__(self, label: str, **extra: Any) -> float:
        value = rss_mb(process_tree(self.server.pid))
        if self.probe:
            with (
                contextlib.suppress(Exception),
                urllib.request.urlopen(self.server.url + "/__bench/objects", timeout=20) as r,
            ):
                extra["objects"] = json.loads(r.read())
        self.samples.append({"at": label, "rss_mb": round(value, 1), "t": round(time.time() - self.t0, 1), **extra})
        return value


async def run_memory(pw: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Server RSS (and, through probe_server, live objects) over many answers in one tab, then many tabs."""
    run_id = f"MEM-{int(time.time())}"
    rundir = RAW / run_id
    wl = Workload("W1", 5000, 0.0, timeout=args.w1_timeout)
    rec: dict[str, Any] = {
        "kind": "memory",
        "app": "rivulet",
        "shape": "markdown",
        "answers": args.mem_answers,
        "tabs": args.mem_tabs,
        "run": run_id,
    }

    failures = 0
    # 50 answers of ~32 KB each are far over the default 100,000-character prompt+history limit
    env = {"RIVULET_MAX_PROMPT_CHARS": "100000000"}
    with app_server("rivulet", "bench", rundir, env=env, probe=args.mem_probe) as server:
        t0 = time.time()
        sample = Sampler(server, args.mem_probe)
        samples = sample.samples
        sample("start")
        async with Browser(pw) as browser:
            ctx, page = await browser.open(server.url)
            sample("first tab open")
            answers: list[dict[str, Any]] = []
            rec["answer_figures"] = answers
            for k in range(1, args.mem_answers + 1):
                if time.time() - t0 > args.mem_budget and k > 6:
                    rec["stopped_early"] = (
                        f"answer budget of {args.mem_budget:g} s used up after {k - 1} of {args.mem_answers} answers"
                    )
                    print(f"    MEM {rec['stopped_early']}", flush=True)
                    break
                prompt = bench_prompt(wl, f"{run_id}-a{k}")
                # the page may still be re-rendering the previous answer: wait until all k-1 answers are there
                with contextlib.suppress(Exception):
                    await page.wait_for_function(
                        f"() => window.__benchCount() === {k - 1}", timeout=30_000, polling=100
                    )
                result = await measure(
                    server,
                    browser,
                    [page],
                    [prompt],
                    timeout=wl.timeout,
                    rundir=rundir,
                    tail=0.3,
                    n0=k - 1,
                    prompt_selector=args.prompt_selector,
                )
                tab = result["tabs"][0]
                answers.append(
                    {
                        "answer": k,
                        "ok": tab["ok"],
                        "t_first_s": tab["t_first_s"],
                        "t_done_s": tab["t_done_s"],
                        "lag_s": tab.get("lag_s"),
                        "ws_bytes": tab["ws_bytes"],
                        "server_cpu_s": result["server_cpu_s"],
                        "browser_cpu_s": result["browser_cpu_s"],
                        "rss_after_mb": result["server_rss_after_mb"],
                        "other_cores": result["background"]["foreign_cores"],
                    }
                )
                if not tab["ok"]:
                    failures += 1
                if k in (1, 5) or k % 5 == 0:
                    sample(f"after answer {k}", t_done_s=tab["t_done_s"], ok=tab["ok"])
                    print(
                        f"    MEM answer {k}: t_first {fmt(tab['t_first_s'])} s, t_done {fmt(tab['t_done_s'])} s, "
                        f"{tab['ws_bytes'] / 1e6:.2f} MB to the page, server CPU {result['server_cpu_s']} s, "
                        f"RSS {samples[-1]['rss_mb']} MB",
                        flush=True,
                    )
                await asyncio.sleep(0.2)
                if failures >= 3:
                    rec["error"] = "3 answers did not finish: memory check stopped"
                    break
            if answers and not any(s["at"] == f"after answer {answers[-1]['answer']}" for s in samples):
                sample(f"after answer {answers[-1]['answer']}", t_done_s=answers[-1]["t_done_s"])
            for j in range(1, args.mem_tabs + 1):
                c2, p2 = await browser.open(server.url)
                if args.mem_tab_chunks:
                    short = Workload("T", args.mem_tab_chunks, 0.0)
                    await measure(
                        server,
                        browser,
                        [p2],
                        [bench_prompt(short, f"{run_id}-tab{j}")],
                        timeout=20,
                        rundir=rundir,
                        tail=0.05,
                        prompt_selector=args.prompt_selector,
                    )
                await c2.close()
                if j % 10 == 0:
                    sample(f"after {j} tabs opened and closed")
                    print(f"    MEM {j} tabs opened and closed: RSS {samples[-1]['rss_mb']} MB", flush=True)
            await asyncio.sleep(args.mem_settle)
            sample(f"end: {args.mem_settle:g} s later (first tab still open)")
            await ctx.close()
            await asyncio.sleep(args.mem_settle)
            sample("first tab closed too")
    by = {s["at"]: s["rss_mb"] for s in samples}
    ref = by.get("after answer 5")
    end = next((s["rss_mb"] for s in samples if s["at"].startswith("end:")), None)
    rec.update(
        {
            "samples": samples,
            "rss_after_5_mb": ref,
            "rss_end_mb": end,
            "growth_mb": round(end - ref, 1) if ref is not None and end is not None else None,
            "answer_failures": failures,
            "duration_s": round(time.time() - t0, 1),
        }
    )
    return rec
