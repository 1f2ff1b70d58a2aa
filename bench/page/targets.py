"""The targets for Rivulet's page, each checked against this run's figures and labelled with its issue: issue 5's
(W1 lag, bytes, CPU, gaps; W2 pace; W3 all tabs; the embedded model's speed through the page; memory growth) and
issue 13's (long single blocks: shown within 3 s, linear growth, bytes, long tasks, ending at the bottom, memory
after long answers)."""

from __future__ import annotations

from typing import Any

from bench.page.figures import growth, workload_figures, workload_runs, workload_tabs
from bench.page.workloads import GROWTH_PAIRS
from bench.tables import fmt, table

Check = tuple[str, str, str, Any, bool | None]  # issue, name, target, measured, verdict (None: not measured)


def _le(v: float | None, limit: float) -> bool | None:
    return None if v is None else v <= limit


def targets(records: list[dict[str, Any]], emb: dict[str, Any], mem: dict[str, Any] | None) -> tuple[str, list]:
    """The targets' table (met / NOT met / n/a), issue 5's then issue 13's, and the checks behind it."""
    checks = targets_5(records, emb, mem) + targets_13(records)
    rows = [
        [issue, name, target, value, "n/a" if ok is None else ("met" if ok else "NOT met")]
        for issue, name, target, value, ok in checks
    ]
    return table(["issue", "target (Rivulet)", "target", "measured", "verdict"], rows), checks


def targets_5(records: list[dict[str, Any]], emb: dict[str, Any], mem: dict[str, Any] | None) -> list[Check]:
    """Issue 5's checks."""
    w1 = workload_figures(records, "rivulet", "W1") or {}
    w2 = workload_figures(records, "rivulet", "W2") or {}
    w3 = workload_figures(records, "rivulet", "W3") or {}
    w1_runs = workload_runs(records, "rivulet", "W1")
    w3_tabs = workload_tabs(records, "rivulet", "W3")
    checks: list[Check] = []
    le = _le

    def add(name: str, target: str, value: Any, ok: bool | None, issue: str = "5") -> None:
        checks.append((issue, name, target, value, ok))

    if w1:
        add("W1 finishes every time", "all runs", f"{w1['ok_runs']}/{w1['runs']}", w1["ok_runs"] == w1["runs"])
        add("W1 lag", "<= 0.1 s", fmt(w1["lag_s"]), le(w1["lag_s"], 0.1), "5, 13")
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
        add("W2 t_done", "<= 10.3 s", fmt(w2["t_done_s"], "{:.2f}"), le(w2["t_done_s"], 10.3), "5, 13")
        add("W2 page bytes / answer", "<= 3x", fmt(w2["bytes_x"], "{:.2f}"), le(w2["bytes_x"], 3), "5, 13")
    if w3:
        lags = [t.get("lag_s") for t in w3_tabs]
        worst = max((v for v in lags if v is not None), default=None)
        all_ok = bool(w3_tabs) and all(t["ok"] for t in w3_tabs)  # a run that failed has no tabs: not met
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
    return checks


def targets_13(records: list[dict[str, Any]]) -> list[Check]:
    """Issue 13's checks: long single blocks (CODE2K/CODE4K, TAB500/TAB1K) and what must not regress (W1, W2)."""
    checks: list[Check] = []

    def add(name: str, target: str, value: Any, ok: bool | None) -> None:
        checks.append(("13", name, target, value, ok))

    figs = {w: workload_figures(records, "rivulet", w) for w in ("W1", "W2", "CODE2K", "CODE4K", "TAB500", "TAB1K")}
    for w in ("CODE4K", "TAB1K"):
        if f := figs[w]:
            value = "DNF" if f["dnf"] else fmt(f["t_done_s"], "{:.2f}")
            ok = False if f["dnf"] and (f["timeout_s"] or 0) >= 3 else _le(f["t_done_s"], 3)  # a DNF took > 3 s
            add(f"{w} shown after (submit -> whole answer shown)", "<= 3 s", value, ok)
    for small, big in GROWTH_PAIRS:
        g = growth(records, "rivulet", small, big)
        if g:
            cpu = g["server_cpu_s"]
            ok = _le(cpu, 2.5)
            if g["dnf"] and ok:  # CPU over a DNF's timeout window is less than its whole answer would take
                ok = None
            value = fmt(cpu, "{:.2f}x") + (" (DNF: CPU over its timeout window)" if g["dnf"] else "")
            add(f"server CPU {big} / {small} (2x the size)", "<= 2.5x", value, ok)
    for w in ("CODE2K", "CODE4K", "TAB500", "TAB1K"):  # W2's is issue 5's row, marked "5, 13"
        if f := figs[w]:
            add(f"{w} page bytes / answer", "<= 3x", fmt(f["bytes_x"], "{:.2f}"), _le(f["bytes_x"], 3))
    for w in ("W1", "W2", "CODE2K", "CODE4K", "TAB500", "TAB1K"):
        if f := figs[w]:
            worst = f["longest_task_max_ms"]
            add(f"{w} longest long task (worst run)", "<= 100 ms", fmt(worst, "{:.0f} ms"), _le(worst, 100))
    for w in ("W1", "CODE2K", "CODE4K", "TAB500", "TAB1K"):
        if f := figs[w]:
            worst = f["scroll_gap_max_px"]
            add(f"{w} ends at the bottom (px left below, worst run)", "<= 40 px", fmt(worst, "{:.0f}"), _le(worst, 40))
    mem = next((r for r in records if r.get("kind") == "memory" and r.get("shape") in ("code", "table")), None)
    if mem:
        g = mem.get("growth_from_start_mb")
        done = f"{len(mem.get('answer_figures', []))} {mem['shape']} answers"
        add(
            f"memory: RSS after {done} (tabs closed) - start",
            "<= 30 MB",
            fmt(g, "{:.1f}") + " MB",
            _le(g, 30) if len(mem.get("answer_figures", [])) >= 20 else None,  # fewer answers: not the target's
        )
        after_1 = mem.get("rss_after_1_mb")
        rest = None if after_1 is None or mem.get("rss_end_mb") is None else mem["rss_end_mb"] - after_1
        add("memory: the same from after the first answer (info)", "", fmt(rest, "{:.1f}") + " MB", None)
    return checks
