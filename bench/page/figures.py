"""A workload's figures over its runs and tabs: medians of the per-answer figures `measure` recorded."""

from __future__ import annotations

import statistics
from typing import Any

from bench.tables import median


def workload_tabs(records: list[dict[str, Any]], app: str, wl: str) -> list[dict[str, Any]]:
    """Every tab of every run of workload `wl` on `app`."""
    return [
        t for r in records if r.get("kind") == "workload" and r["app"] == app and r["workload"] == wl for t in r["tabs"]
    ]


def workload_runs(records: list[dict[str, Any]], app: str, wl: str) -> list[dict[str, Any]]:
    """Every run (record) of workload `wl` on `app`."""
    return [r for r in records if r.get("kind") == "workload" and r["app"] == app and r["workload"] == wl]


def shown_pct(records: list[dict[str, Any]], tab: dict[str, Any], wl: str) -> float | None:
    """How much of the answer `tab` showed: 100 if it finished, else its length over a finished answer's."""
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
    """The medians (and a few maxima) of workload `wl` on `app` over its runs, None if it did not run."""
    runs = workload_runs(records, app, wl)
    if not runs:
        return None
    tabs = workload_tabs(records, app, wl)
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
        "longest_task_ms": median(t.get("longest_task_ms") for t in use),
        "longest_task_max_ms": max(
            (t["longest_task_ms"] for t in use if t.get("longest_task_ms") is not None), default=None
        ),
        "long_tasks": median(t.get("long_tasks") for t in use),
        "scroll_gap_px": median(t.get("scroll_gap_px") for t in use),
        "scroll_gap_max_px": max((t["scroll_gap_px"] for t in use if t.get("scroll_gap_px") is not None), default=None),
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
        "timeout_s": runs[0].get("timeout_s"),
    }
    fig["t_done_over_model"] = (fig["t_done_s"] / fig["model_s"]) if fig["t_done_s"] and fig["model_s"] else None
    if len(tabs) > len(runs):  # several tabs per run: per-tab lags
        fig["per_tab_lag_s"] = [t.get("lag_s") for t in tabs]
    return fig


#: The figures compared between a workload and the one twice its size.
GROWTH_KEYS = ("answer_chars", "server_cpu_s", "bytes", "t_done_s")


def growth(records: list[dict[str, Any]], app: str, small: str, big: str) -> dict[str, Any] | None:
    """Ratios big / small of the medians (answer chars, server CPU, page bytes, shown after) for `app`, or None.

    A DNF on either side gives None for the time ratio (its t_done is not an answer's)."""
    a, b = workload_figures(records, app, small), workload_figures(records, app, big)
    if not a or not b:
        return None
    ra, rb = workload_runs(records, app, small), workload_runs(records, app, big)
    out: dict[str, Any] = {"dnf": a["dnf"] or b["dnf"]}
    pairs = {
        "answer_chars": (ra[0]["answer_chars"], rb[0]["answer_chars"]),
        "server_cpu_s": (a["server_cpu_s"], b["server_cpu_s"]),
        "bytes": (a["ws_mb"], b["ws_mb"]),
        "t_done_s": (None, None) if out["dnf"] else (a["t_done_s"], b["t_done_s"]),
    }
    for key, (x, y) in pairs.items():
        out[key] = y / x if x and y is not None else None
    return out
