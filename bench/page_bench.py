#!/usr/bin/env python3
"""Browser benchmark (issue 5): Rivulet's chat page vs. a naive NiceGUI page, in headless Chromium.

For each workload, both apps are started fresh on free 127.0.0.1 ports (Rivulet:
`main.py --model py:bench_model:model_from_env`, PYTHONPATH=bench; the naive page: bench/naive_page.py),
Debian's Chromium is driven through Playwright's async API (never downloaded: /usr/bin/chromium), a prompt
is typed and Enter pressed, and per answer we measure:

  t_first   submit (Enter keydown in the page) -> first answer text in the DOM
  t_done    submit -> the answer's last word (ENDMARK) in the DOM
  model     the model's own first -> last chunk (bench_model logs wall-clock times)
  lag       the browser showing the last chunk minus the model emitting it (clock offset corrected)
  ws bytes  WebSocket payload the page received from submit to done + tail, and as a multiple of the answer
  CPU       server process tree and Chromium process tree, user+sys seconds over the same window
  max gap   the largest time between two visible updates of the answer text (MutationObserver)
  RSS       server resident memory before / after the answer

Workloads: W1 = 5,000 word chunks as fast as possible; W2 = 2,000 chunks at 200 chunks/s; W3 = 8 tabs
streaming W2 at once; EMB = the embedded SmolLM2 model (`--model local`, temperature 0, 256 tokens) through the
page vs. raw llama-cpp-python on the same prompt; MEM = 50 W1 answers in one tab, then 50 tabs opened and
closed (Rivulet only). Every answer has a timeout; an unfinished one is a DNF with the share shown.

    .venv/bin/python bench/page_bench.py               # everything, about 10 minutes on 2 cores
    .venv/bin/python bench/page_bench.py --quick       # 1 rep, short timeouts, small memory check (~3 min)
    .venv/bin/python bench/page_bench.py --only W1,W2 --reps 5 --apps rivulet

Results: bench/results/page_bench.jsonl (one JSON line per record), bench/results/summary.md (tables),
bench/results/raw/page/<run>/ (server logs, model logs, DOM events, WebSocket frame samples; git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import statistics
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    MOBY_PROMPT,
    PYTHON,
    RESULTS,
    ROOT,
    ForeignLoad,
    Server,
    cpu_delta,
    cpu_seconds,
    fmt,
    free_port,
    install_watchdog,
    machine_info,
    median,
    process_tree,
    rss_mb,
    stamp,
    table,
    wait_quiet,
)

RAW = RESULTS / "raw" / "page"
ANSWER_SELECTOR = ".answer-body"
SENTINEL = "ENDMARK"
APPS = ("rivulet", "naive")
#: Where the prompt is typed (the last match; Playwright's :visible skips hidden drawers' fields).
PROMPT_SELECTOR = "textarea:visible"


@dataclass
class Workload:
    name: str
    chunks: int
    rate: float
    tabs: int = 1
    timeout: float = 30.0  # seconds from submit until the last tab must show ENDMARK

    @property
    def nominal_s(self) -> float | None:
        return (self.chunks - 1) / self.rate if self.rate else None

    def label(self) -> str:
        pace = "max" if not self.rate else f"{self.rate:g}/s"
        return f"{self.name} ({self.chunks}@{pace}" + (f" x{self.tabs} tabs)" if self.tabs > 1 else ")")


# ------------------------------------------------------------------------------------------------------
# in-page instrumentation
# ------------------------------------------------------------------------------------------------------
#: Before any page script: count WebSocket payload (string length for text frames: our text is ASCII, so
#: about bytes) per socket.io event name, keep a bounded sample of frames, and collect HTTP resources.
INIT_JS = r"""
(() => {
  const N = window.__benchNet = {wsBytes: 0, wsFrames: 0, byEvent: {}, samples: [], sampleBytes: 0,
                                 sampleCap: 0, resources: []};
  const Orig = window.WebSocket;
  if (Orig) {
    window.WebSocket = class extends Orig {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => {
          const d = e.data;
          let len = 0, name = 'binary';
          if (typeof d === 'string') {
            len = d.length;
            const m = /^\d+(?:\/[^,]*,)?\d*\["([^"]+)"/.exec(d.slice(0, 80));
            name = m ? m[1] : 'engine.io ' + d.slice(0, 1);
            if (N.sampleCap && N.sampleBytes < N.sampleCap) {
              N.samples.push([performance.timeOrigin + performance.now(), d.slice(0, 400000)]);
              N.sampleBytes += Math.min(len, 400000);
            }
          } else {
            len = d.byteLength !== undefined ? d.byteLength : (d.size || 0);
          }
          N.wsFrames++; N.wsBytes += len;
          const s = N.byEvent[name] || (N.byEvent[name] = {frames: 0, bytes: 0});
          s.frames++; s.bytes += len;
        });
      }
    };
  }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        N.resources.push([e.startTime, e.responseEnd, e.decodedBodySize || 0, e.name.slice(0, 100)]);
      }
    }).observe({type: 'resource', buffered: true});
  } catch (err) {}
})();
"""

#: After the page is ready: one MutationObserver over the body. `__benchArm(n0)` starts a new answer
#: measurement: the answer is the last `.answer-body` once there are more than n0 of them.
OBSERVER_JS = r"""
(selector) => {
  const now = () => performance.timeOrigin + performance.now();
  const B = window.__bench = {events: [], last: -1, submitT: null, doneT: null, finalLen: null, mutations: 0,
                              n0: 0, armed: false};
  const text = () => {
    const all = document.querySelectorAll(selector);
    return all.length > B.n0 ? (all[all.length - 1].textContent || '') : '';
  };
  const check = () => {
    if (!B.armed) return;
    B.mutations++;
    const t = text();
    const L = t.length;
    if (L !== B.last) {
      const ts = now();
      B.last = L;
      B.events.push([ts, L]);
      const ended = B.endTail ? t.replace(/[^A-Za-z]/g, '').endsWith(B.endTail) : /ENDMARK\s*$/.test(t);
      if (B.doneT === null && B.submitT !== null && ended) { B.doneT = ts; B.finalLen = L; }
    }
  };
  window.__benchArm = (n0, endTail) => {
    Object.assign(B, {events: [], last: -1, submitT: null, doneT: null, finalLen: null, mutations: 0, n0: n0,
                      armed: true, endTail: endTail || null});
    window.__benchNet.sampleCap = 0;
    check();
    return document.querySelectorAll(selector).length;
  };
  window.__benchCount = () => document.querySelectorAll(selector).length;
  window.__benchText = () => text();
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && B.armed && B.submitT === null) B.submitT = now();
  }, true);
  return true;
}
"""

READY_JS = (
    "() => !!(window.socket && window.socket.connected && window.did_handshake && document.querySelector('textarea'))"
)


# ------------------------------------------------------------------------------------------------------
# apps and browser
# ------------------------------------------------------------------------------------------------------
def start_app(app: str, model: str, rundir: Path, *, env: dict[str, str] | None = None, probe: bool = False) -> Server:
    """Start Rivulet or the naive page. `model` is "bench" (bench_model) or "local" (the embedded model)."""
    port = free_port()
    full_env = {
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(ROOT)]),
        "BENCH_MODEL_LOG": str(rundir / "model.jsonl"),
    }
    full_env.update(env or {})
    if app == "rivulet":
        # probe_server.py = main.py plus a read-only GET /__bench/objects (object counts for the memory check)
        argv = [PYTHON, str(BENCH_DIR / "probe_server.py" if probe else ROOT / "main.py"), "--port", str(port)]
        if model == "bench":
            argv += ["--model", "py:bench_model:model_from_env"]
        else:
            argv += ["--model", "local", "--temperature", "0", "--max-tokens", str(EMB_MAX_TOKENS), "--system", ""]
    else:
        argv = [
            PYTHON,
            str(BENCH_DIR / "naive_page.py"),
            "--port",
            str(port),
            "--model",
            model,
            "--max-tokens",
            str(EMB_MAX_TOKENS),
            "--temperature",
            "0",
        ]
    rundir.mkdir(parents=True, exist_ok=True)
    # Rivulet keeps conversations and a storage secret in its data dir: a fresh one per server, removed after
    data_dir = Path(tempfile.mkdtemp(prefix=f"rivulet-bench-{app}-"))
    full_env.setdefault("RIVULET_DATA_DIR", str(data_dir))
    server = Server(argv, port=port, env=full_env, cwd=ROOT, log_path=rundir / f"{app}_server.log", cleanup=[data_dir])
    try:
        server.wait_ready(90)
    except Exception:
        server.stop()
        raise
    return server


EMB_MAX_TOKENS = 256


#: CDP sessions of open pages, by id(page).
CDP: dict[int, Any] = {}
PERF_KEYS = (
    "TaskDuration",
    "ScriptDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "LayoutCount",
    "RecalcStyleCount",
)


async def perf_metrics(page: Any) -> dict[str, float]:
    cdp = CDP.get(id(page))
    if cdp is None:
        return {}
    try:
        got = await cdp.send("Performance.getMetrics")
    except Exception:
        return {}
    return {m["name"]: m["value"] for m in got.get("metrics", [])}


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
    """One headless Chromium (Debian's) for a group of runs."""

    def __init__(self, pw: Any) -> None:
        self.pw = pw
        self.browser: Any = None
        self.pid: int | None = None

    async def __aenter__(self) -> Browser:
        self.browser = await self.pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.pid = chromium_root_pid()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.browser.close(), 15)
        if self.pid:
            from _common import kill_tree

            kill_tree(self.pid, grace=2)

    def procs(self) -> list[Any]:
        return process_tree(self.pid) if self.pid else []

    async def open(self, url: str) -> tuple[Any, Any]:
        """A new context (its own window: no background-tab throttling) with one ready page."""
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        await ctx.add_init_script(INIT_JS)
        page = await ctx.new_page()
        with contextlib.suppress(Exception):  # renderer-side timings (script, layout, style) for the diagnosis
            cdp = await ctx.new_cdp_session(page)
            await cdp.send("Performance.enable")
            CDP[id(page)] = cdp
        await page.goto(url, wait_until="load", timeout=30_000)
        await page.wait_for_function(READY_JS, timeout=30_000, polling=50)
        await page.evaluate(OBSERVER_JS, ANSWER_SELECTOR)
        return ctx, page


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


def read_model_log(rundir: Path) -> list[dict[str, Any]]:
    path = rundir / "model.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def answer_chars(chunks: int) -> int:
    from bench_model import full_text

    return len(full_text(chunks))


# ------------------------------------------------------------------------------------------------------
# one measured answer (one or more tabs at once)
# ------------------------------------------------------------------------------------------------------
async def measure(
    server: Server,
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
) -> dict[str, Any]:
    """Submit `prompts[i]` in `pages[i]` (all at once) and measure until every answer is done or `timeout`.

    Done = the answer ends with ENDMARK, or (with `stable_s`, for models without a sentinel) the answer
    text has not changed for `stable_s` seconds; t_done is then the time of its last change.
    """
    offsets = [await clock_offset(p) for p in pages[:1]] * len(pages)
    n0s = []
    for page, prompt in zip(pages, prompts, strict=True):
        n0s.append(n0 if n0 is not None else await page.evaluate("() => window.__benchCount()"))
        await page.locator(PROMPT_SELECTOR).last.fill(prompt)
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
    perf0 = [await perf_metrics(p) for p in pages]
    rss_before = rss_mb(server_procs)
    load = ForeignLoad()
    cpu0_s, cpu0_c = cpu_seconds(server_procs), cpu_seconds(chrome_procs)
    t_submit = time.time()
    for page in pages:
        await page.locator(PROMPT_SELECTOR).last.press("Enter")
    deadline = t_submit + timeout
    peak_rss = rss_before
    states: list[list[Any]] = [[None, -1, None] for _ in pages]
    last_change = [time.time()] * len(pages)
    finished = [False] * len(pages)
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
    t_end_wait = time.time()
    await asyncio.sleep(tail)
    server_end = process_tree(server.pid)
    chrome_end = browser.procs()
    cpu1_s = cpu_seconds({p.pid: p for p in server_procs + server_end}.values())
    cpu1_c = cpu_seconds({p.pid: p for p in chrome_procs + chrome_end}.values())
    background = load.stop([server.pid])
    rss_after = rss_mb(server_end)
    perf1 = [await perf_metrics(p) for p in pages]
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


def bench_prompt(wl: Workload, tag: str) -> str:
    return f"Write a long answer. [bench chunks={wl.chunks} rate={wl.rate:g} tag={tag}]"


async def run_workload(pw: Any, app: str, wl: Workload, rep: int, args: argparse.Namespace) -> dict[str, Any]:
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
        "answer_chars": answer_chars(wl.chunks),
        "run": run_id,
    }
    server = start_app(app, "bench", rundir)
    try:
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
            )
            rec.update(result)
            for ctx, _ in opened:
                with contextlib.suppress(Exception):
                    await ctx.close()
    finally:
        server.stop()
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


# ------------------------------------------------------------------------------------------------------
# embedded model through the page vs. the raw engine (its HTTP API)
# ------------------------------------------------------------------------------------------------------
STATUS_RE = re.compile(r"(\d+) chunks?")
RATE_RE = re.compile(r"([\d.]+) (chunks|tokens)/s")


async def run_embedded(pw: Any, args: argparse.Namespace, apps: list[str]) -> list[dict[str, Any]]:
    from embedded_bench import load_raw_llama
    from embedded_bench import raw_run_sync as raw_run

    run_id = f"EMB-{int(time.time())}"
    rundir = RAW / run_id
    records: list[dict[str, Any]] = []
    servers: dict[str, Server] = {}
    llama = load_raw_llama()
    try:
        for app in apps:
            servers[app] = start_app(app, "local", rundir)
        async with Browser(pw) as browser:
            # warm-ups: raw, then one answer per app (loads each server's model)
            warm = raw_run(llama, MOBY_PROMPT, max_tokens=EMB_MAX_TOKENS, timeout=args.emb_timeout)
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
                )
                await ctx.close()
            t_emb = time.time()
            for rep in range(1, args.reps + 1):
                if rep > 1 and time.time() - t_emb > args.emb_budget:
                    print(f"    EMB budget of {args.emb_budget:g} s used up after {rep - 1} reps", flush=True)
                    break
                load = ForeignLoad()
                raw = raw_run(llama, MOBY_PROMPT, max_tokens=EMB_MAX_TOKENS, timeout=args.emb_timeout)
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
    finally:
        for server in servers.values():
            server.stop()
        del llama
    return records


# ------------------------------------------------------------------------------------------------------
# memory: many answers in one tab, then many tabs opened and closed
# ------------------------------------------------------------------------------------------------------
async def run_memory(pw: Any, args: argparse.Namespace) -> dict[str, Any]:
    run_id = f"MEM-{int(time.time())}"
    rundir = RAW / run_id
    wl = Workload("W1", 5000, 0.0, timeout=args.w1_timeout)
    # 50 answers of ~32 KB each are far over the default 100,000-character prompt+history limit
    server = start_app("rivulet", "bench", rundir, env={"RIVULET_MAX_PROMPT_CHARS": "100000000"}, probe=args.mem_probe)
    samples: list[dict[str, Any]] = []
    rec: dict[str, Any] = {
        "kind": "memory",
        "app": "rivulet",
        "answers": args.mem_answers,
        "tabs": args.mem_tabs,
        "run": run_id,
    }

    def sample(label: str, **extra: Any) -> float:
        value = rss_mb(process_tree(server.pid))
        if args.mem_probe:
            with (
                contextlib.suppress(Exception),
                urllib.request.urlopen(server.url + "/__bench/objects", timeout=20) as r,
            ):
                extra["objects"] = json.loads(r.read())
        samples.append({"at": label, "rss_mb": round(value, 1), "t": round(time.time() - t0, 1), **extra})
        return value

    t0 = time.time()
    failures = 0
    try:
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
                    server, browser, [page], [prompt], timeout=wl.timeout, rundir=rundir, tail=0.3, n0=k - 1
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
    finally:
        server.stop()
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


# ------------------------------------------------------------------------------------------------------
# summary
# ------------------------------------------------------------------------------------------------------
def _tabs(records: list[dict[str, Any]], app: str, wl: str) -> list[dict[str, Any]]:
    return [
        t for r in records if r.get("kind") == "workload" and r["app"] == app and r["workload"] == wl for t in r["tabs"]
    ]


def _runs(records: list[dict[str, Any]], app: str, wl: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == "workload" and r["app"] == app and r["workload"] == wl]


def shown_pct(records: list[dict[str, Any]], tab: dict[str, Any], wl: str) -> float | None:
    if tab["ok"]:
        return 100.0
    finals = [
        t["final_len"]
        for r in records
        if r.get("kind") == "workload" and r["workload"] == wl
        for t in r["tabs"]
        if t["ok"]
    ]
    ref = statistics.median(finals) if finals else None
    return round(100.0 * max(tab["last_len"], 0) / ref, 1) if ref else None


def workload_figures(records: list[dict[str, Any]], app: str, wl: str) -> dict[str, Any] | None:
    runs = _runs(records, app, wl)
    if not runs:
        return None
    tabs = _tabs(records, app, wl)
    ok_tabs = [t for t in tabs if t["ok"]]
    use = ok_tabs or tabs
    chars = runs[0]["answer_chars"]
    fig: dict[str, Any] = {
        "runs": len(runs),
        "ok_runs": sum(r["ok"] for r in runs),
        "dnf": not any(r["ok"] for r in runs),
        "tabs_finished": f"{sum(t['ok'] for t in tabs)}/{len(tabs)}",
        "shown_pct": median(shown_pct(records, t, wl) for t in tabs),
        "t_first_s": median(t["t_first_s"] for t in use),
        "t_done_s": median(t["t_done_s"] for t in use),
        "t_done_max_s": max((t["t_done_s"] for t in use if t["t_done_s"] is not None), default=None),
        "model_s": median(t.get("model_s") for t in use),
        "lag_s": median(t.get("lag_s") for t in use),
        "lag_max_s": max((t["lag_s"] for t in use if t.get("lag_s") is not None), default=None),
        "ws_mb": median(t["ws_bytes"] / 1e6 for t in use),
        "bytes_x": median(t["ws_bytes"] / chars for t in use),
        "server_cpu_s": median(r["server_cpu_s"] for r in runs),
        "browser_cpu_s": median(r["browser_cpu_s"] for r in runs),
        "updates": median(t.get("visible_updates") for t in use),
        "max_gap_s": median(t.get("max_gap_s") for t in use),
        "rss_before_mb": median(r["server_rss_before_mb"] for r in runs),
        "rss_after_mb": median(r["server_rss_after_mb"] for r in runs),
        "other_cores": median(r["background"]["foreign_cores"] for r in runs),
        "renderer_script_s": median((t.get("renderer") or {}).get("ScriptDuration") for t in use),
        "renderer_layout_style_s": median(
            (
                (t.get("renderer") or {}).get("LayoutDuration", 0)
                + (t.get("renderer") or {}).get("RecalcStyleDuration", 0)
            )
            if t.get("renderer")
            else None
            for t in use
        ),
        "renderer_task_s": median((t.get("renderer") or {}).get("TaskDuration") for t in use),
        "dom_nodes": median((t.get("renderer") or {}).get("dom_nodes_end") for t in use),
        "model_emitted_at_timeout": median(t.get("model_emitted_at_timeout") for t in tabs),
    }
    fig["t_done_over_model"] = (fig["t_done_s"] / fig["model_s"]) if fig["t_done_s"] and fig["model_s"] else None
    if len(tabs) > len(runs):  # several tabs per run: per-tab lags
        fig["per_tab_lag_s"] = [t.get("lag_s") for t in tabs]
    return fig


ROWS = [  # key, label, format
    ("tabs_finished", "finished (tabs)", None),
    ("shown_pct", "shown % (DNF: at timeout)", "{:.0f}"),
    ("t_first_s", "t_first s", "{:.3f}"),
    ("t_done_s", "t_done s", "{:.2f}"),
    ("model_s", "model duration s", "{:.2f}"),
    ("t_done_over_model", "t_done / model", "{:.2f}"),
    ("lag_s", "lag s", "{:.3f}"),
    ("lag_max_s", "lag max s", "{:.3f}"),
    ("ws_mb", "ws MB received", "{:.3f}"),
    ("bytes_x", "ws bytes / answer chars", "{:.2f}"),
    ("server_cpu_s", "server CPU s", "{:.2f}"),
    ("browser_cpu_s", "browser CPU s", "{:.2f}"),
    ("updates", "visible updates", "{:.0f}"),
    ("max_gap_s", "largest gap s", "{:.3f}"),
    ("rss_before_mb", "server RSS before MB", "{:.0f}"),
    ("rss_after_mb", "server RSS after MB", "{:.0f}"),
    ("renderer_task_s", "renderer main-thread busy s (per tab)", "{:.2f}"),
    ("renderer_script_s", "  of which JavaScript s", "{:.2f}"),
    ("renderer_layout_style_s", "  of which layout + style s", "{:.2f}"),
    ("dom_nodes", "DOM nodes at the end", "{:.0f}"),
    ("other_cores", "other processes' CPU (cores)", "{:.2f}"),
]


def side_by_side(records: list[dict[str, Any]], workloads: list[Workload], apps: list[str]) -> str:
    head = ["workload", "figure (median)", *apps]
    if len(apps) == 2:
        head.append(f"{apps[1]} / {apps[0]}")
    rows = []
    for wl in workloads:
        figs = {app: workload_figures(records, app, wl.name) for app in apps}
        if not any(figs.values()):
            continue
        for key, label, spec in ROWS:
            cells = []
            for app in apps:
                f = figs[app]
                value = None if f is None else f.get(key)
                if f and f["dnf"] and key in ("t_done_s", "t_done_over_model", "lag_s", "lag_max_s") and value is None:
                    cells.append("DNF")
                else:
                    cells.append(fmt(value, spec) if spec else fmt(value))
            row = [wl.label(), label, *cells]
            if len(apps) == 2:
                a = figs[apps[0]] and figs[apps[0]].get(key)
                b = figs[apps[1]] and figs[apps[1]].get(key)
                row.append(
                    fmt(b / a, "{:.1f}x")
                    if spec and isinstance(a, int | float) and isinstance(b, int | float) and a
                    else ""
                )
            rows.append(row)
    return table(head, rows)


def embedded_table(records: list[dict[str, Any]], apps: list[str]) -> tuple[str, dict[str, Any]]:
    emb = [r for r in records if r.get("kind") == "embedded"]
    if not emb:
        return "", {}
    raw = [r for r in emb if r["app"] == "raw"]
    raw_rate = median(r["chunks_per_s"] for r in raw)
    figs: dict[str, Any] = {"raw_chunks_per_s": raw_rate, "raw_ttfc_s": median(r["ttfc_s"] for r in raw)}
    rows = [
        [
            "the raw engine (its HTTP API, from the benchmark process)",
            fmt(raw_rate, "{:.1f}"),
            "1.00",
            fmt(figs["raw_ttfc_s"]) + " (ttfc)",
            "",
            "",
            fmt(median(r["background"]["foreign_cores"] for r in raw), "{:.2f}"),
        ]
    ]
    for app in apps:
        rs = [r for r in emb if r["app"] == app]
        if not rs:
            continue
        rate = median(r["page_chunks_per_s"] for r in rs)
        # ratio per rep against the raw run of the same rep, then the median
        per_rep = [
            r["page_chunks_per_s"] / r["raw_chunks_per_s_same_rep"]
            for r in rs
            if r.get("page_chunks_per_s") and r.get("raw_chunks_per_s_same_rep")
        ]
        figs[app] = {
            "page_chunks_per_s": rate,
            "ratio_vs_raw": median(per_rep),
            "status_rate": median(r.get("status_rate") for r in rs),
            "t_first_s": median(r["t_first_s"] for r in rs),
            "ok": f"{sum(r['ok'] for r in rs)}/{len(rs)}",
        }
        rows.append(
            [
                f"{app} page (chunks / visible span)",
                fmt(rate, "{:.1f}"),
                fmt(median(per_rep), "{:.2f}"),
                fmt(figs[app]["t_first_s"]) + " (t_first)",
                fmt(figs[app]["status_rate"], "{:.1f}"),
                figs[app]["ok"],
                fmt(median(r["background"]["foreign_cores"] for r in rs), "{:.2f}"),
            ]
        )
    head = [
        "embedded SmolLM2, 256 tokens, temperature 0",
        "chunks/s",
        "ratio to raw (per rep)",
        "first s",
        "rate the page's status shows",
        "finished",
        "other processes (cores)",
    ]
    return table(head, rows), figs


def targets(records: list[dict[str, Any]], emb: dict[str, Any], mem: dict[str, Any] | None) -> tuple[str, list]:
    w1 = workload_figures(records, "rivulet", "W1") or {}
    w2 = workload_figures(records, "rivulet", "W2") or {}
    w3 = workload_figures(records, "rivulet", "W3") or {}
    w1_runs = _runs(records, "rivulet", "W1")
    w3_tabs = _tabs(records, "rivulet", "W3")
    checks: list[tuple[str, str, Any, bool | None]] = []

    def add(name: str, target: str, value: Any, ok: bool | None) -> None:
        checks.append((name, target, value, ok))

    def le(v: float | None, limit: float) -> bool | None:
        return None if v is None else v <= limit

    if w1:
        add("W1 finishes every time", "all runs", f"{w1['ok_runs']}/{w1['runs']}", w1["ok_runs"] == w1["runs"])
        add("W1 lag", "<= 0.1 s", fmt(w1["lag_s"]), le(w1["lag_s"], 0.1))
        add(
            "W1 t_done / model duration",
            "<= 1.5",
            fmt(w1["t_done_over_model"], "{:.2f}"),
            le(w1["t_done_over_model"], 1.5),
        )
        add("W1 page bytes / answer", "<= 3x", fmt(w1["bytes_x"], "{:.2f}"), le(w1["bytes_x"], 3))
        add("W1 server CPU", "<= 1 s", fmt(w1["server_cpu_s"], "{:.2f}"), le(w1["server_cpu_s"], 1.0))
        add("W1 largest gap", "<= 0.2 s", fmt(w1["max_gap_s"]), le(w1["max_gap_s"], 0.2))
        add("W1 t_first", "<= 0.15 s", fmt(w1["t_first_s"]), le(w1["t_first_s"], 0.15))
        worst = max(
            (t["max_gap_s"] for r in w1_runs for t in r["tabs"] if t.get("max_gap_s") is not None), default=None
        )
        add("W1 largest gap, worst run (info)", "<= 0.2 s", fmt(worst), le(worst, 0.2))
    if w2:
        add("W2 t_done", "<= 10.3 s", fmt(w2["t_done_s"], "{:.2f}"), le(w2["t_done_s"], 10.3))
        add("W2 page bytes / answer", "<= 3x", fmt(w2["bytes_x"], "{:.2f}"), le(w2["bytes_x"], 3))
    if w3:
        lags = [t.get("lag_s") for t in w3_tabs]
        worst = max((v for v in lags if v is not None), default=None)
        all_ok = all(t["ok"] for t in w3_tabs)
        add("W3 all 8 tabs finish", "8/8 every run", w3["tabs_finished"], all_ok)
        add(
            "W3 per-tab lag (worst tab of all runs)",
            "<= 0.5 s",
            fmt(worst),
            None if worst is None else (all_ok and worst <= 0.5),
        )
    if emb.get("rivulet"):
        r = emb["rivulet"]["ratio_vs_raw"]
        add("embedded through the page vs raw", ">= 0.9x", fmt(r, "{:.2f}"), None if r is None else r >= 0.9)
    if mem:
        add(
            "memory: RSS end - after first 5 answers",
            "<= 30 MB",
            fmt(mem.get("growth_mb"), "{:.1f}") + " MB",
            le(mem.get("growth_mb"), 30),
        )
    rows = [
        [name, target, value, "n/a" if ok is None else ("met" if ok else "NOT met")]
        for name, target, value, ok in checks
    ]
    return table(["issue 5 target (Rivulet)", "target", "measured", "verdict"], rows), checks


def memory_table(mem: dict[str, Any]) -> str:
    figures = {f"after answer {a['answer']}": a for a in mem.get("answer_figures", [])}
    rows = []
    for smp in mem["samples"]:
        a = figures.get(smp["at"], {})
        rows.append(
            [
                smp["at"],
                fmt(smp["rss_mb"], "{:.1f}"),
                fmt(a.get("t_first_s"), "{:.2f}"),
                fmt(a.get("t_done_s"), "{:.2f}"),
                fmt(a["ws_bytes"] / 1e6 if a else None, "{:.2f}"),
                fmt(a.get("server_cpu_s"), "{:.2f}"),
                fmt(a.get("browser_cpu_s"), "{:.2f}"),
                fmt((smp.get("objects") or {}).get("clients"), "{:.0f}"),
                fmt((smp.get("objects") or {}).get("elements"), "{:.0f}"),
                fmt((smp.get("objects") or {}).get("orphan_elements"), "{:.0f}"),
                fmt((smp.get("objects") or {}).get("tasks"), "{:.0f}"),
                fmt((smp.get("objects") or {}).get("rss_mb_after_gc"), "{:.1f}"),
                fmt(smp["t"], "{:.0f}"),
            ]
        )
    head = [
        "memory check (Rivulet)",
        "server RSS MB",
        "t_first s",
        "t_done s",
        "MB to the page",
        "server CPU s",
        "browser CPU s",
        "clients",
        "elements",
        "of which without a live client",
        "tasks",
        "RSS after gc MB",
        "at s",
    ]
    return table(head, rows)


def frame_breakdown(records: list[dict[str, Any]], apps: list[str], workloads: list[Workload]) -> str:
    rows = []
    for wl in workloads:
        for app in apps:
            tabs = _tabs(records, app, wl.name)
            if not tabs:
                continue
            tab = tabs[0]
            for name, v in sorted(tab.get("ws_by_event", {}).items(), key=lambda kv: -kv[1]["bytes"]):
                rows.append(
                    [
                        wl.name,
                        app,
                        name,
                        v["frames"],
                        f"{v['bytes'] / 1e3:.1f}",
                        f"{v['bytes'] / max(tab['ws_bytes'], 1) * 100:.0f}%",
                    ]
                )
    return table(["workload", "app", "socket.io event", "frames", "kB", "share"], rows) if rows else ""


def _role(element: dict[str, Any] | None, first_send: bool, code_parts: set[str], key: str, html_seen: set[str]) -> str:
    if element is None:
        return "deletions"
    html = (element.get("props") or {}).get("innerHTML")
    if first_send and html and len(html) > 40 and html in html_seen:
        return "markdown sent again as a new element (answer re-rendered)"
    classes = element.get("class") or []
    tag = element.get("tag")
    if "answer-status" in classes:
        return "status line (re-sent)" if not first_send else "status line"
    if tag == "nicegui-code" or key in code_parts:
        return "code blocks (ui.code: highlight + copy button)"
    if tag == "nicegui-markdown":
        return "markdown first send" if first_send else "markdown re-sent (open tail)"
    if element.get("children") and not first_send:
        return "containers re-sent (children lists)"
    return "other elements" + ("" if first_send else " (re-sent)")


def analyze_frames(path: Path, done_ms: float | None = None) -> dict[str, Any] | None:
    """What one answer's WebSocket frames carried, by role, before and after the answer was complete.

    NiceGUI's `update` event maps element ids to their whole description (tag, classes, props such as a
    markdown element's rendered innerHTML, children ids). An element updated again is sent again whole.
    Frames after `done_ms` (ENDMARK visible) are what the page sent once the answer had fully arrived.
    """
    if not path.exists():
        return None
    frames = json.loads(path.read_text())
    roles: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    html_seen: set[str] = set()
    code_parts: set[str] = set()
    total = unparsed = 0

    def add(role: str, phase: str, size: int) -> None:
        slot = roles.setdefault(role, {"sends": 0, "bytes": 0, "after_done_bytes": 0})
        slot["sends"] += 1
        slot["bytes"] += size
        if phase == "after":
            slot["after_done_bytes"] += size

    for stamp_ms, frame in frames:
        total += len(frame)
        phase = "after" if done_ms is not None and stamp_ms > done_ms else "during"
        if not frame.startswith('42["update"'):
            name = frame[frame.find('["') + 2 : frame.find('",')] if frame.startswith("42[") else "engine.io"
            add(f"{name} messages", phase, len(frame))
            continue
        try:
            data = json.loads(frame[2:])[1]
        except ValueError:
            unparsed += 1
            add("unparsed update frames", phase, len(frame))
            continue
        for key, element in data.items():
            if key == "_id":
                continue
            if element and element.get("tag") == "nicegui-code":
                code_parts.update(str(c) for c in element.get("children") or [])
        for key, element in data.items():
            if key == "_id":
                continue
            size = len(json.dumps(element, separators=(",", ":"))) + len(key) + 4
            add(_role(element, key not in seen, code_parts, key, html_seen), phase, size)
            seen.add(key)
            if element and (element.get("props") or {}).get("innerHTML"):
                html_seen.add(element["props"]["innerHTML"])
    return {
        "frames": len(frames),
        "frame_bytes": total,
        "unparsed_frames": unparsed,
        "roles": dict(sorted(roles.items(), key=lambda kv: -kv[1]["bytes"])),
    }


def frames_table(records: list[dict[str, Any]], apps: list[str], workloads: list[Workload]) -> str:
    rows = []
    for wl in workloads:
        for app in apps:
            runs = [
                r
                for r in records
                if r.get("kind") == "workload" and r["app"] == app and r["workload"] == wl.name and r.get("frames")
            ]
            if not runs:
                continue
            info = runs[0]["frames"]
            chars = runs[0]["answer_chars"]
            for role, v in info["roles"].items():
                rows.append(
                    [
                        wl.name,
                        app,
                        role,
                        v["sends"],
                        f"{v['bytes'] / 1e3:.1f}",
                        f"{v['bytes'] / chars:.2f}x",
                        f"{v['after_done_bytes'] / 1e3:.1f}",
                    ]
                )
    head = ["workload", "app", "what (first run)", "sends", "kB", "x answer", "of which after ENDMARK showed, kB"]
    return table(head, rows) if rows else ""


# ------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 rep, shorter naive timeouts, 10 answers + 10 tabs memory check (about 3 minutes)",
    )
    parser.add_argument("--only", default="W1,W2,W3,EMB,MEM", help="comma list of W1,W2,W3,EMB,MEM")
    parser.add_argument("--apps", default="rivulet,naive", help="comma list of rivulet,naive")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each Rivulet workload")
    parser.add_argument("--naive-reps", type=int, default=1, help="repetitions of each naive-page workload")
    parser.add_argument(
        "--no-dnf-skip",
        action="store_true",
        help="keep repeating a workload on an app after it did not finish (default: skip)",
    )
    parser.add_argument("--w1-timeout", type=float, default=30.0, help="seconds from submit, W1")
    parser.add_argument("--w2-timeout", type=float, default=40.0, help="seconds from submit, W2")
    parser.add_argument("--w3-timeout", type=float, default=30.0, help="seconds from submit, W3 (all tabs)")
    parser.add_argument("--emb-timeout", type=float, default=90.0, help="seconds per embedded answer")
    parser.add_argument(
        "--stable-s",
        type=float,
        default=2.0,
        help="embedded model: the answer is done when its text has not changed for this long",
    )
    parser.add_argument("--emb-budget", type=float, default=150.0, help="no new embedded rep after this many s")
    parser.add_argument("--mem-answers", type=int, default=50)
    parser.add_argument(
        "--mem-budget", type=float, default=200.0, help="no new memory-check answer after this many s (min 6 answers)"
    )
    parser.add_argument("--mem-tabs", type=int, default=50)
    parser.add_argument(
        "--mem-tab-chunks",
        type=int,
        default=0,
        help="each of the memory check's tabs also streams an answer of this many chunks (0: none)",
    )
    parser.add_argument("--mem-settle", type=float, default=8.0, help="seconds to wait before the final RSS")
    parser.add_argument(
        "--mem-probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run Rivulet through bench/probe_server.py in the memory check: clients/elements/tasks after gc",
    )
    parser.add_argument("--settle", type=float, default=0.5, help="seconds after the page is ready")
    parser.add_argument("--run-timeout", type=float, default=150.0, help="hard limit per run (start to stop), s")
    parser.add_argument("--hard-timeout", type=float, default=1500.0, help="hard limit for the whole script, s")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="first wait up to this long for other processes' CPU load to go away",
    )
    parser.add_argument(
        "--capture-frames",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep a sample of WebSocket frames per single-tab run in raw/ (for diagnosis)",
    )
    parser.add_argument(
        "--prompt-selector", default=PROMPT_SELECTOR, help="CSS selector of the prompt box (last match)"
    )
    parser.add_argument("--out", default=str(RESULTS / "page_bench.jsonl"))
    args = parser.parse_args()
    globals()["PROMPT_SELECTOR"] = args.prompt_selector
    if args.quick:
        args.reps, args.naive_reps = 1, 1
        args.w1_timeout, args.w2_timeout, args.w3_timeout = 15.0, 30.0, 30.0
        args.mem_answers, args.mem_tabs = 10, 10
    install_watchdog(args.hard_timeout, "page_bench")
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    apps = [a for a in args.apps.split(",") if a in APPS]
    workloads = [
        Workload("W1", 5000, 0.0, timeout=args.w1_timeout),
        Workload("W2", 2000, 200.0, timeout=args.w2_timeout),
        Workload("W3", 2000, 200.0, tabs=8, timeout=args.w3_timeout),
    ]
    workloads = [w for w in workloads if w.name in only]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    RAW.mkdir(parents=True, exist_ok=True)
    out.write_text("")
    t0 = time.time()
    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    header = {"kind": "meta", "when": stamp(), "machine": machine_info(), "args": vars(args), "quiet_check": quiet}
    records: list[dict[str, Any]] = []

    def emit(rec: dict[str, Any]) -> None:
        records.append(rec)
        with out.open("a") as f:
            f.write(json.dumps(rec) + "\n")

    emit(header)
    if quiet:
        print(
            f"[{stamp()}] other processes use {quiet['foreign_cores']:.2f} cores (waited {quiet['waited_s']} s)",
            flush=True,
        )

    async def go() -> None:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            for wl in workloads:
                for rep in range(1, max(args.reps, args.naive_reps) + 1):
                    for app in apps:
                        if rep > (args.reps if app == "rivulet" else args.naive_reps):
                            continue
                        prev = _runs(records, app, wl.name)
                        if prev and not args.no_dnf_skip and not any(r["ok"] for r in prev):
                            continue  # it did not finish before: another timeout would only cost time
                        print(f"[{time.time() - t0:6.0f}s] {app:8s} {wl.label()} rep {rep} ...", end=" ", flush=True)
                        try:
                            rec = await asyncio.wait_for(
                                run_workload(pw, app, wl, rep, args), wl.timeout + args.run_timeout
                            )
                        except Exception as exc:
                            rec = {
                                "kind": "workload",
                                "app": app,
                                "workload": wl.name,
                                "label": wl.label(),
                                "rep": rep,
                                "ok": False,
                                "tabs": [],
                                "error": f"{type(exc).__name__}: {exc}"[:500],
                                "answer_chars": answer_chars(wl.chunks),
                                "server_cpu_s": None,
                                "browser_cpu_s": None,
                                "server_rss_before_mb": None,
                                "server_rss_after_mb": None,
                                "background": {"foreign_cores": None},
                            }
                        for tab in rec["tabs"]:
                            tab["shown_pct"] = shown_pct([*records, rec], tab, wl.name)
                        emit(rec)
                        tabs = rec["tabs"]
                        if rec.get("error"):
                            print(f"ERROR {rec['error']}", flush=True)
                        elif len(tabs) == 1:
                            t = tabs[0]
                            print(
                                ("done" if t["ok"] else f"DNF ({fmt(t['shown_pct'], '{:.0f}')}% shown)")
                                + f" t_first {fmt(t['t_first_s'])} t_done {fmt(t['t_done_s'], '{:.2f}')} "
                                f"model {fmt(t.get('model_s'), '{:.2f}')} lag {fmt(t.get('lag_s'))} "
                                f"bytes {t['ws_bytes'] / rec['answer_chars']:.2f}x srv_cpu {rec['server_cpu_s']} "
                                f"brw_cpu {rec['browser_cpu_s']} gap {fmt(t.get('max_gap_s'))} "
                                f"other {rec['background']['foreign_cores']:.2f} cores",
                                flush=True,
                            )
                        else:
                            lags = [fmt(t.get("lag_s"), "{:.2f}") for t in tabs]
                            print(
                                f"{rec['tabs_finished']}/{len(tabs)} tabs finished, lags {' '.join(lags)}, "
                                f"srv_cpu {rec['server_cpu_s']} brw_cpu {rec['browser_cpu_s']} "
                                f"other {rec['background']['foreign_cores']:.2f} cores",
                                flush=True,
                            )
            if "EMB" in only:
                print(f"[{time.time() - t0:6.0f}s] embedded model: the raw engine vs the pages ...", flush=True)
                try:
                    for rec in await asyncio.wait_for(
                        run_embedded(pw, args, apps), args.run_timeout + (args.reps + 1) * 3 * args.emb_timeout
                    ):
                        emit(rec)
                except Exception as exc:
                    print(f"    embedded: ERROR {type(exc).__name__}: {exc}", flush=True)
                    emit({"kind": "embedded_error", "error": f"{type(exc).__name__}: {exc}"[:500]})
            if "MEM" in only and "rivulet" in apps:
                print(
                    f"[{time.time() - t0:6.0f}s] memory check: {args.mem_answers} W1 answers in one tab, then "
                    f"{args.mem_tabs} tabs opened and closed ...",
                    flush=True,
                )
                try:
                    budget = args.run_timeout + args.mem_answers * (args.w1_timeout + 2) + args.mem_tabs * 25
                    emit(await asyncio.wait_for(run_memory(pw, args), budget))
                except Exception as exc:
                    print(f"    memory: ERROR {type(exc).__name__}: {exc}", flush=True)
                    emit({"kind": "memory_error", "error": f"{type(exc).__name__}: {exc}"[:500]})

    asyncio.run(go())
    summary = write_summary(records, workloads, apps, args, time.time() - t0)
    print("\n" + summary)
    print(f"\ntotal {time.time() - t0:.0f} s; results: {out}, {summary_path(out)}")


def write_summary(
    records: list[dict[str, Any]], workloads: list[Workload], apps: list[str], args: argparse.Namespace, total_s: float
) -> str:
    parts = [f"# Page benchmark: Rivulet vs. a naive NiceGUI page ({stamp()})", ""]
    meta = records[0] if records and records[0].get("kind") == "meta" else {}
    machine = meta.get("machine", {})
    parts.append(
        f"{machine.get('cpus')} cores · git {machine.get('git')}{' (dirty)' if machine.get('git_dirty') else ''}"
        f" · Rivulet reps {args.reps}, naive reps {args.naive_reps} · total {total_s:.0f} s · "
        "command: `.venv/bin/python bench/page_bench.py" + (" --quick" if args.quick else "") + "`"
    )
    parts.append("")
    if any(r.get("kind") == "workload" for r in records):
        parts += [
            "## Side by side (medians; ratio = naive ÷ Rivulet)",
            "",
            side_by_side(records, workloads, apps),
            "",
            "A DNF did not finish within its timeout (W1 "
            f"{args.w1_timeout:g} s, W2 {args.w2_timeout:g} s, W3 {args.w3_timeout:g} s); its figures cover the "
            'timeout window. "ws bytes / answer chars" divides the WebSocket payload the page received from '
            "submit to done + 0.5 s by the answer's Markdown length. \"other processes' CPU\" is the machine's "
            "busy CPU not used by this benchmark, the browser or the server (cores, averaged over the window): "
            "above ~0.2 the figures of that row were disturbed by other work on the machine.",
            "",
        ]
        w3 = [r for r in records if r.get("kind") == "workload" and r["workload"] == "W3"]
        if w3:
            rows = [
                [
                    r["app"],
                    r["rep"],
                    f"{r.get('tabs_finished', 0)}/{len(r['tabs'])}",
                    " ".join(fmt(t.get("lag_s"), "{:.2f}") for t in r["tabs"]),
                    " ".join(fmt(t.get("t_done_s"), "{:.1f}") for t in r["tabs"]),
                ]
                for r in w3
            ]
            parts += [
                "### W3 per tab",
                "",
                table(["app", "rep", "finished", "lag s per tab", "t_done s per tab"], rows),
                "",
            ]
        fb = frame_breakdown(records, apps, workloads)
        if fb:
            parts += ["### What the page received, by socket.io event (first run of each)", "", fb, ""]
        ft = frames_table(records, apps, workloads)
        if ft:
            parts += [
                "### Where the page's bytes go (WebSocket frames of the first run of each)",
                "",
                ft,
                "",
                "NiceGUI sends an updated element whole (tag, classes, props such as a markdown element's "
                'rendered innerHTML, children ids); "re-sent" is an element sent again after its first send '
                "in the same answer. The last column is what arrived after the whole answer was already shown "
                "(until done + 0.5 s).",
                "",
            ]
    emb_text, emb = embedded_table(records, apps)
    if emb_text:
        parts += [
            "## Embedded model through the page vs. raw llama-cpp-python",
            "",
            emb_text,
            "",
            "Same prompt (“" + MOBY_PROMPT + "”), no system prompt, temperature 0, 256 tokens, context 4096. "
            "Page rate = (chunks - 1) / (last visible change - first visible text); raw rate = (chunks - 1) / "
            "(last chunk - first chunk). Ratios are per repetition (raw and pages alternate), then the median.",
            "",
        ]
    mem = next((r for r in records if r.get("kind") == "memory"), None)
    if mem:
        parts += [
            "## Memory",
            "",
            memory_table(mem),
            "",
            f"Growth from after answer 5 to the end: {fmt(mem.get('growth_mb'), '{:.1f}')} MB "
            f"({len(mem.get('answer_figures', []))} of {mem['answers']} answers run"
            + (f": {mem['stopped_early']}" if mem.get("stopped_early") else "")
            + f"; {mem.get('answer_failures')} did not finish; {mem['tabs']} tabs, each a new browser context). "
            "Per-answer figures of the single tab are in the JSON record. The server runs with "
            "RIVULET_MAX_PROMPT_CHARS=100000000: the conversation's history (50 answers of 32 KB) is far over "
            "the default 100,000-character limit.",
            "",
        ]
        last = (mem["samples"][-1].get("objects") or {}) if mem.get("samples") else {}
        if last:
            parts += [
                f"Objects after gc at the very end (no tab open): {last.get('clients')} clients, "
                f"{last.get('elements')} elements ({last.get('orphan_elements')} without a live client: "
                f"{last.get('orphans_by_type')}), Rivulet objects {last.get('rivulet_objects')}, "
                f"{last.get('tasks')} asyncio tasks (bench/probe_server.py).",
                "",
            ]
    tgt, _ = targets(records, emb, mem)
    parts += ["## Targets of issue 5", "", tgt, ""]
    text = "\n".join(parts)
    summary_path(Path(args.out)).write_text(text + "\n")
    return text


def summary_path(out: Path) -> Path:
    """summary.md beside the default results file; <stem>_summary.md beside any other --out."""
    return out.parent / ("summary.md" if out.name == "page_bench.jsonl" else f"{out.stem}_summary.md")


if __name__ == "__main__":
    main()
