"""What an answer's WebSocket frames carried: by socket.io event, and for NiceGUI's `update` events by role
(Markdown blocks sent for the first time, the open tail re-sent, the status line, code blocks...), before and
after the whole answer was shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.page.figures import workload_tabs
from bench.tables import table

if TYPE_CHECKING:
    from bench.page.workloads import Workload


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


def frame_breakdown(records: list[dict[str, Any]], apps: list[str], workloads: list[Workload]) -> str:
    rows = []
    for wl in workloads:
        for app in apps:
            tabs = workload_tabs(records, app, wl.name)
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
