"""One measured answer: submit a prompt in one or more tabs at once and follow each answer until it is complete
(or its timeout), with the server's and the browser's CPU and memory over the same window."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

from bench.page.apps import read_model_log
from bench.page.browser import PERF_KEYS, Browser, clock_offset
from bench.processes import ForeignLoad, cpu_delta, cpu_seconds, rss_mb
from tests.support.servers import ServerProcess, process_tree

#: Where the prompt is typed (the last match; Playwright's :visible skips hidden drawers' fields).
PROMPT_SELECTOR = "textarea:visible"


async def scroll_gap(page: Any) -> dict[str, Any] | None:
    """{"gap": px between the bottom of the answer's scroll container and its visible bottom, "container": ...}."""
    try:
        return await page.evaluate("() => window.__benchScrollGap()")
    except Exception:
        return None


async def long_tasks(page: Any, start_ms: float, end_ms: float) -> dict[str, Any]:
    """The page's long tasks (>= 50 ms, PerformanceObserver 'longtask') that overlap [start_ms, end_ms] (epoch ms):
    the longest, how many, their total."""
    entries = await page.evaluate("() => window.__benchLongTasks ? window.__benchLongTasks() : null")
    if entries is None:
        return {"longest_task_ms": None, "long_tasks": None, "long_tasks_ms": None}
    overlapping = [(t, d) for t, d in entries if t < end_ms and t + d > start_ms]
    mine = [d for _, d in overlapping]
    return {
        "longest_task_ms": round(max(mine), 1) if mine else 0.0,
        "long_tasks": len(mine),
        "long_tasks_ms": round(sum(mine), 1),
        # [seconds after submit, ms]: where in the answer they were (the first update, the end...)
        "long_task_list": [[round((t - start_ms) / 1000, 3), round(d)] for t, d in overlapping],
    }


async def measure(
    server: ServerProcess,
    browser: Browser,
    pages: list[Any],
    prompts: list[str],
    *,
    timeout: float,  # noqa: ASYNC109 - the answer's deadline, checked while polling the page
    rundir: Path,
    stable_s: float | None = None,
    tail: float = 0.5,
    capture_frames: bool = False,
    n0: int | None = None,
    end_tail: str | None = None,
    prompt_selector: str = PROMPT_SELECTOR,
) -> dict[str, Any]:
    """Submit `prompts[i]` in `pages[i]` (all at once) and measure until every answer is done or `timeout`.

    Done = the answer ends with ENDMARK, or (with `stable_s`, for models without a sentinel) the answer
    text has not changed for `stable_s` seconds; t_done is then the time of its last change. `n0`: the answers
    already on the page (default: counted); `end_tail`: the answer's last letters, for models without ENDMARK.
    """
    offsets = [await clock_offset(p) for p in pages[:1]] * len(pages)
    n0s = []
    for page, prompt in zip(pages, prompts, strict=True):
        n0s.append(n0 if n0 is not None else await page.evaluate("() => window.__benchCount()"))
        await page.locator(prompt_selector).last.fill(prompt)
    server_procs = process_tree(server.pid)
    chrome_procs = browser.procs()
    for page, n0 in zip(pages, n0s, strict=True):
        await page.evaluate("([n0, tail]) => window.__benchArm(n0, tail)", [n0, end_tail])
        if capture_frames:
            await page.evaluate(
                "() => { window.__benchNet.sampleCap = 3000000; window.__benchNet.samples = []; "
                "window.__benchNet.sampleBytes = 0; }"
            )
    net0 = [
        await p.evaluate(
            "() => ({wsBytes: window.__benchNet.wsBytes, wsFrames: window.__benchNet.wsFrames,"
            " byEvent: JSON.parse(JSON.stringify(window.__benchNet.byEvent))})"
        )
        for p in pages
    ]
    perf0 = [await browser.perf_metrics(p) for p in pages]
    rss_before = rss_mb(server_procs)
    load = ForeignLoad()
    cpu0_s, cpu0_c = cpu_seconds(server_procs), cpu_seconds(chrome_procs)
    t_submit = time.time()
    for page in pages:
        await page.locator(prompt_selector).last.press("Enter")
    deadline = t_submit + timeout
    peak_rss = rss_before
    states: list[list[Any]] = [[None, -1, None] for _ in pages]
    last_change = [time.time()] * len(pages)
    finished = [False] * len(pages)
    gap_at_done: list[dict[str, Any] | None] = [None] * len(pages)
    while time.time() < deadline and not all(finished):
        await asyncio.sleep(0.1 if len(pages) == 1 else 0.2)
        peak_rss = max(peak_rss, rss_mb(server_procs))
        for i, page in enumerate(pages):
            if finished[i]:
                continue
            st = await page.evaluate("() => [window.__bench.doneT, window.__bench.last, window.__bench.events.length]")
            if st[1] != states[i][1]:
                last_change[i] = time.time()
            states[i] = st
            if st[0] is not None or (stable_s is not None and st[1] > 0 and time.time() - last_change[i] >= stable_s):
                finished[i] = True
                gap_at_done[i] = await scroll_gap(page)
    t_end_wait = time.time()
    await asyncio.sleep(tail)
    server_end = process_tree(server.pid)
    chrome_end = browser.procs()
    cpu1_s = cpu_seconds({p.pid: p for p in server_procs + server_end}.values())
    cpu1_c = cpu_seconds({p.pid: p for p in chrome_procs + chrome_end}.values())
    background = load.stop([server.pid])
    rss_after = rss_mb(server_end)
    perf1 = [await browser.perf_metrics(p) for p in pages]
    window = time.time() - t_submit
    model_log = read_model_log(rundir)

    tabs = []
    for i, page in enumerate(pages):
        off = offsets[i]
        bench = await page.evaluate(
            "() => ({events: window.__bench.events, submitT: window.__bench.submitT,"
            " doneT: window.__bench.doneT, finalLen: window.__bench.finalLen,"
            " last: window.__bench.last, mutations: window.__bench.mutations})"
        )
        net1 = await page.evaluate(
            "() => ({wsBytes: window.__benchNet.wsBytes, wsFrames: window.__benchNet.wsFrames,"
            " byEvent: window.__benchNet.byEvent})"
        )
        tab: dict[str, Any] = {"tab": i, "prompt": prompts[i]}
        submit_ms = bench["submitT"] if bench["submitT"] is not None else (t_submit + off) * 1000
        tab["submit_ms"] = submit_ms
        events = [(t, n) for t, n in bench["events"] if t >= submit_ms]
        first = next(((t, n) for t, n in events if n > 0), None)
        done_ms = bench["doneT"]
        if done_ms is None and stable_s is not None and finished[i] and events:
            done_ms = events[-1][0]  # no sentinel: the last change of a text that then stayed stable
        if done_ms is not None and events:
            # ENDMARK can show a few ms before the blocks frozen in the same flush are mounted: "done" is the
            # first moment the text reached its final length (at or after ENDMARK showed)
            final_len = events[-1][1]
            full = next((t for t, n in events if t >= done_ms and n == final_len), None)
            tab["t_endmark_s"] = round((done_ms - submit_ms) / 1000, 4)
            if full is not None:
                done_ms = full
                bench["finalLen"] = final_len
        tab["end_by"] = "sentinel" if bench["doneT"] is not None else ("stable text" if done_ms else None)
        tab["ok"] = done_ms is not None
        tab["t_first_s"] = round((first[0] - submit_ms) / 1000, 4) if first else None
        tab["t_done_s"] = round((done_ms - submit_ms) / 1000, 4) if done_ms else None
        tab["final_len"] = bench["finalLen"] if bench["finalLen"] is not None else (events[-1][1] if events else 0)
        tab["last_len"] = bench["last"]
        if first:
            end_ms = done_ms or (events[-1][0] if events else first[0])
            stream = [(t, n) for t, n in events if first[0] <= t <= end_ms]
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(stream)]
            if not tab["ok"]:  # unfinished: the stall until the end of the wait counts too
                gaps.append((t_end_wait + off) * 1000 - end_ms)
            tab["visible_updates"] = len(stream)
            tab["max_gap_s"] = round(max(gaps) / 1000, 4) if gaps else 0.0
            tab["visible_span_s"] = round((end_ms - first[0]) / 1000, 4)
        window_end_ms = done_ms if done_ms is not None else (t_end_wait + off) * 1000
        tab.update(await long_tasks(page, submit_ms, window_end_ms))
        gap = await scroll_gap(page)
        tab["scroll_gap_px"] = gap["gap"] if gap else None
        tab["scroll_container"] = gap["container"] if gap else None
        tab["scroll_gap_at_done_px"] = (gap_at_done[i] or {}).get("gap")
        if perf0[i] and perf1[i]:
            tab["renderer"] = {k: round(perf1[i].get(k, 0) - perf0[i].get(k, 0), 3) for k in PERF_KEYS}
            tab["renderer"]["dom_nodes_end"] = perf1[i].get("Nodes")
            tab["renderer"]["js_heap_mb_end"] = round(perf1[i].get("JSHeapUsedSize", 0) / 2**20, 1)
        tab["ws_bytes"] = net1["wsBytes"] - net0[i]["wsBytes"]
        tab["ws_frames"] = net1["wsFrames"] - net0[i]["wsFrames"]
        tab["ws_by_event"] = {
            k: {
                "frames": v["frames"] - net0[i]["byEvent"].get(k, {}).get("frames", 0),
                "bytes": v["bytes"] - net0[i]["byEvent"].get(k, {}).get("bytes", 0),
            }
            for k, v in net1["byEvent"].items()
        }
        tab["ws_by_event"] = {k: v for k, v in tab["ws_by_event"].items() if v["frames"]}
        tag = (re.search(r"tag=(\S+?)\]", prompts[i]) or re.search(r"tag=(\S+)", prompts[i]) or [None, None])[1]
        mine = [r for r in model_log if r.get("tag") == tag] if tag else []
        done_rec = next((r for r in reversed(mine) if r.get("kind") in ("done", "stopped")), None)
        progress = [r for r in mine if r.get("kind") == "progress"]
        if done_rec and done_rec.get("t_first") and done_rec.get("t_last"):
            tab["model_s"] = round(done_rec["t_last"] - done_rec["t_first"], 4)
            tab["model_chars"] = done_rec.get("chars")
            tab["model_start_s"] = round(done_rec["t_call"] - (submit_ms / 1000 - off), 4)
            if done_ms:
                tab["lag_s"] = round((done_ms / 1000 - off) - done_rec["t_last"], 4)
        elif progress:
            tab["model_emitted_at_timeout"] = progress[-1]["emitted"]
        if capture_frames:
            samples = await page.evaluate("() => window.__benchNet.samples")
            (rundir / f"ws_frames_tab{i}.json").write_text(json.dumps(samples))
        (rundir / f"dom_events_tab{i}.json").write_text(json.dumps({"submit_ms": submit_ms, "events": bench["events"]}))
        tabs.append(tab)
    return {
        "tabs": tabs,
        "server_cpu_s": round(cpu_delta(cpu0_s, cpu1_s), 3),
        "browser_cpu_s": round(cpu_delta(cpu0_c, cpu1_c), 3),
        "server_rss_before_mb": round(rss_before, 1),
        "server_rss_after_mb": round(rss_after, 1),
        "server_rss_peak_mb": round(peak_rss, 1),
        "window_s": round(window, 3),
        "background": background,
    }
