"""EMB: the embedded SmolLM2 model (`--model local`, temperature 0, 256 tokens) through each app's page vs. the raw
engine's own HTTP API, called from the benchmark process on the same prompt (bench/embedded_bench.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
from typing import Any

from bench import MOBY_PROMPT
from bench.page import RAW
from bench.page.apps import EMB_MAX_TOKENS, app_server
from bench.page.browser import Browser
from bench.page.measure import measure
from bench.processes import ForeignLoad
from bench.tables import fmt

STATUS_RE = re.compile(r"(\d+) chunks?")
RATE_RE = re.compile(r"([\d.]+) (chunks|tokens)/s")


async def run_embedded(pw: Any, args: argparse.Namespace, apps: list[str]) -> list[dict[str, Any]]:
    """Alternating per repetition: the raw engine's answer, then the same prompt through each app's page."""
    from bench.embedded_bench import load_raw_llama, raw_answer

    run_id = f"EMB-{int(time.time())}"
    rundir = RAW / run_id
    records: list[dict[str, Any]] = []
    llama = load_raw_llama()
    with contextlib.ExitStack() as stack:
        stack.callback(llama.engine.stop)  # last, after the apps' servers
        servers = {app: stack.enter_context(app_server(app, "local", rundir)) for app in apps}
        async with Browser(pw) as browser:
            # warm-ups: raw, then one answer per app (loads each server's model)
            warm = await raw_answer(llama, MOBY_PROMPT, max_tokens=EMB_MAX_TOKENS, timeout=args.emb_timeout)
            # greedy decoding: the pages get the same answer; its last letters mark the end in the DOM
            letters = re.sub(r"[^A-Za-z]", "", warm["text"])
            end_tail = letters[-20:] if len(letters) >= 20 and not warm["timed_out"] else None
            # without a known last word (the raw warm-up timed out), a stall longer than --stable-s would end the
            # answer early: under other CPU load llama.cpp can stall for seconds, so wait at least 10 s then
            stable = max(args.stable_s, 10.0) if end_tail is None else max(args.stable_s, 15.0)
            for app in apps:
                ctx, page = await browser.open(servers[app].url)
                await measure(
                    servers[app],
                    browser,
                    [page],
                    [MOBY_PROMPT],
                    timeout=args.emb_timeout,
                    rundir=rundir,
                    stable_s=stable,
                    end_tail=end_tail,
                    prompt_selector=args.prompt_selector,
                )
                await ctx.close()
            t_emb = time.time()
            for rep in range(1, args.reps + 1):
                if rep > 1 and time.time() - t_emb > args.emb_budget:
                    print(f"    EMB budget of {args.emb_budget:g} s used up after {rep - 1} reps", flush=True)
                    break
                load = ForeignLoad()
                raw = await raw_answer(llama, MOBY_PROMPT, max_tokens=EMB_MAX_TOKENS, timeout=args.emb_timeout)
                raw["background"] = load.stop()
                raw_text = raw.pop("text")
                rec = {**raw, "kind": "embedded", "app": "raw", "rep": rep}
                records.append(rec)
                print(
                    f"    EMB rep {rep} raw      {raw['chunks']} chunks, "
                    f"{fmt(raw['chunks_per_s'], '{:.1f}')} chunks/s, "
                    f"ttfc {fmt(raw['ttfc_s'])} s, other processes {raw['background']['foreign_cores']:.2f} cores",
                    flush=True,
                )
                for app in apps:
                    ctx, page = await browser.open(servers[app].url)
                    await asyncio.sleep(args.settle)
                    result = await measure(
                        servers[app],
                        browser,
                        [page],
                        [MOBY_PROMPT],
                        timeout=args.emb_timeout,
                        rundir=rundir,
                        stable_s=stable,
                        end_tail=end_tail,
                        prompt_selector=args.prompt_selector,
                    )
                    status = ""
                    with contextlib.suppress(Exception):
                        status = await page.evaluate(
                            "() => { const s = document.querySelectorAll('.answer-status');"
                            " return s.length ? s[s.length - 1].textContent : ''; }"
                        )
                    await ctx.close()
                    tab = result["tabs"][0]
                    m = STATUS_RE.search(status or "")
                    n_chunks = int(m.group(1)) if m else raw["chunks"]
                    rate = RATE_RE.search(status or "")
                    span = tab.get("visible_span_s")
                    page_rate = (n_chunks - 1) / span if span else None
                    rec = {
                        "kind": "embedded",
                        "app": app,
                        "rep": rep,
                        "chunks": n_chunks,
                        "chunks_source": "page status" if m else "raw run (same greedy answer)",
                        "t_first_s": tab["t_first_s"],
                        "t_done_s": tab["t_done_s"],
                        "visible_span_s": span,
                        "page_chunks_per_s": round(page_rate, 2) if page_rate else None,
                        "status_text": status,
                        "status_rate": float(rate.group(1)) if rate else None,
                        "status_rate_unit": rate.group(2) if rate else None,
                        "final_len": tab["final_len"],
                        "raw_chars": len(raw_text),
                        "ok": tab["ok"],
                        "max_gap_s": tab.get("max_gap_s"),
                        "ws_bytes": tab["ws_bytes"],
                        "server_cpu_s": result["server_cpu_s"],
                        "browser_cpu_s": result["browser_cpu_s"],
                        "background": result["background"],
                        "raw_chunks_per_s_same_rep": raw["chunks_per_s"],
                    }
                    records.append(rec)
                    print(
                        f"    EMB rep {rep} {app:8s} {fmt(rec['page_chunks_per_s'], '{:.1f}')} chunks/s through the "
                        f"page (status shows {fmt(rec['status_rate'], '{:.1f}')}), t_first {fmt(tab['t_first_s'])} s, "
                        f"other processes {result['background']['foreign_cores']:.2f} cores",
                        flush=True,
                    )
    return records
