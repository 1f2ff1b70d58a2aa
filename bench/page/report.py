"""The page benchmark's summary (bench/results/summary.md): side-by-side table, issue 13's long blocks and their
growth, W3 per tab, byte breakdowns, the embedded comparison, the memory samples and the targets (issues 5, 13)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import MOBY_PROMPT
from bench.page.figures import growth, workload_figures
from bench.page.frames import frame_breakdown, frames_table
from bench.page.targets import targets
from bench.page.workloads import GROWTH_PAIRS, Workload
from bench.tables import fmt, median, stamp, table

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
    ("longest_task_ms", "longest long task ms", "{:.0f}"),
    ("long_tasks", "long tasks (>= 50 ms)", "{:.0f}"),
    ("scroll_gap_px", "px left below the view at the end", "{:.0f}"),
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


#: Issue 13's compact table: key, header, format.
LONG_COLUMNS = [
    ("t_done_s", "shown after s", "{:.2f}"),
    ("server_cpu_s", "server CPU s", "{:.2f}"),
    ("bytes_x", "bytes / answer", "{:.2f}"),
    ("longest_task_max_ms", "longest task ms", "{:.0f}"),
    ("scroll_gap_max_px", "px from bottom", "{:.0f}"),
    ("browser_cpu_s", "browser CPU s", "{:.2f}"),
    ("other_cores", "other cores", "{:.2f}"),
]


def long_table(records: list[dict[str, Any]], workloads: list[Workload], apps: list[str]) -> str:
    """One row per (workload, app): issue 13's figures (shown after, CPU, bytes, longest task, end position)."""
    rows = []
    for wl in workloads:
        if wl.tabs > 1:
            continue
        for app in apps:
            f = workload_figures(records, app, wl.name)
            if not f:
                continue
            cells = [fmt(f.get(k), spec) for k, _, spec in LONG_COLUMNS]
            if f["dnf"]:
                cells[0] = f"DNF ({fmt(f['shown_pct'], '{:.0f}')}% at {wl.timeout:g} s)"
            rows.append([wl.label(), app, f"{f['ok_runs']}/{f['runs']}", *cells])
    return table(["workload", "app", "ok", *[h for _, h, _ in LONG_COLUMNS]], rows) if rows else ""


def growth_table(records: list[dict[str, Any]], apps: list[str]) -> str:
    """Issue 13's growth: each figure of the workload twice the size over the smaller one's, per app."""
    rows = []
    for small, big in GROWTH_PAIRS:
        for app in apps:
            g = growth(records, app, small, big)
            if g:
                dnf = " (DNF)" if g["dnf"] else ""  # a DNF's CPU and bytes cover its timeout window only
                rows.append(
                    [
                        f"{big} / {small}",
                        app,
                        fmt(g["answer_chars"], "{:.2f}x"),
                        fmt(g["server_cpu_s"], "{:.2f}x") + dnf,
                        fmt(g["bytes"], "{:.2f}x") + dnf,
                        "DNF" if g["dnf"] else fmt(g["t_done_s"], "{:.2f}x"),
                    ]
                )
    head = ["growth", "app", "answer chars", "server CPU", "page bytes", "shown after"]
    return table(head, rows) if rows else ""


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


def memory_section(mem: dict[str, Any]) -> list[str]:
    """Issue 5's memory check: W1 answers in one tab, then many tabs."""
    parts = [
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
    return parts


def long_memory_section(mem: dict[str, Any]) -> list[str]:
    """Issue 13's memory check: long answers, each in its own tab, closed after it."""
    if mem.get("error") and not mem.get("samples"):
        return [f"## Memory after long answers ({mem.get('shape')}): ERROR {mem['error']}", ""]
    n = len(mem.get("answer_figures", []))
    return [
        f"## Memory after long answers ({mem['label']}, each in its own tab)",
        "",
        memory_table(mem),
        "",
        f"RSS at the end minus at the start (one tab open both times): {fmt(mem.get('growth_from_start_mb'), '{:.1f}')}"
        f" MB after {n} of {mem['answers']} answers"
        + (f" ({mem['stopped_early']})" if mem.get("stopped_early") else "")
        + f"; {mem.get('answer_failures')} did not finish. After the first answer: "
        f"{fmt(mem.get('rss_after_1_mb'), '{:.1f}')} MB (start {fmt(mem.get('rss_start_mb'), '{:.1f}')} MB).",
        "",
    ]


def write_summary(
    records: list[dict[str, Any]], workloads: list[Workload], apps: list[str], args: argparse.Namespace, total_s: float
) -> str:
    parts = [f"# Page benchmark: Rivulet vs. a naive NiceGUI page ({stamp()})", ""]
    meta = records[0] if records and records[0].get("kind") == "meta" else {}
    machine = meta.get("machine", {})
    parts.append(
        f"{machine.get('cpus')} cores · git {machine.get('git')}"
        + (" + uncommitted changes" if machine.get("git_dirty") else "")
        + f" · Rivulet reps {args.reps}, naive reps {args.naive_reps} · total {total_s:.0f} s · "
        "command: `" + " ".join([".venv/bin/python -m bench.page", *sys.argv[1:]]) + "`"
    )
    parts.append("")
    long = long_table(records, [w for w in workloads if w.shape or w.name in ("W1", "W2")], apps)
    if long:
        parts += [
            "## Long single blocks (issue 13): figures per workload (medians; worst run for task and position)",
            "",
            long,
            "",
            "shown after = submit -> the whole answer in the DOM; bytes / answer = WebSocket payload over the "
            "answer's Markdown length; longest task = the longest `longtask` (PerformanceObserver) overlapping "
            "submit -> shown; px from bottom = the scroll container's scrollHeight - (scrollTop + clientHeight) "
            "0.5 s after the answer was shown.",
            "",
        ]
    grow = growth_table(records, apps)
    if grow:
        parts += ["### Growth: twice the size (issue 13)", "", grow, ""]
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
    mem = next((r for r in records if r.get("kind") == "memory" and r.get("shape", "markdown") == "markdown"), None)
    if mem:
        parts += memory_section(mem)
    for long_mem in (r for r in records if r.get("kind") == "memory" and r.get("shape") in ("code", "table")):
        parts += long_memory_section(long_mem)
    tgt, _ = targets(records, emb, mem)
    parts += ["## Targets (issues 5 and 13)", "", tgt, ""]
    text = "\n".join(parts)
    summary_path(Path(args.out), getattr(args, "summary", None)).write_text(text + "\n")
    return text


def summary_path(out: Path, summary: str | None = None) -> Path:
    """`--summary` if given, else summary.md beside the default results file, <stem>_summary.md beside any other."""
    if summary:
        return Path(summary)
    return out.parent / ("summary.md" if out.name == "page_bench.jsonl" else f"{out.stem}_summary.md")
