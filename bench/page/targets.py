"""Issue 5's targets for Rivulet's page (W1 lag, bytes, CPU, gaps; W2 pace; W3 all tabs; the embedded model's
speed through the page; memory growth), each checked against this run's figures."""

from __future__ import annotations

from typing import Any

from bench.page.figures import workload_figures, workload_runs, workload_tabs
from bench.tables import fmt, table


def targets(records: list[dict[str, Any]], emb: dict[str, Any], mem: dict[str, Any] | None) -> tuple[str, list]:
    """The targets' table (met / NOT met / n/a) and the checks behind it."""
    w1 = workload_figures(records, "rivulet", "W1") or {}
    w2 = workload_figures(records, "rivulet", "W2") or {}
    w3 = workload_figures(records, "rivulet", "W3") or {}
    w1_runs = workload_runs(records, "rivulet", "W1")
    w3_tabs = workload_tabs(records, "rivulet", "W3")
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
