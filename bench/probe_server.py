#!/usr/bin/env python3
"""Rivulet's `main.py`, plus one read-only route for the memory check: `GET /__bench/objects`.

    .venv/bin/python -m bench.probe_server --model py:bench.bench_model:model_from_env --port 8091

The route runs `gc.collect()` and returns how many NiceGUI clients, elements and asyncio tasks the
process holds, and its RSS before and after the collection. The page benchmark's memory check uses it to
tell retained objects (a leak) from memory the allocator keeps (RSS that does not shrink). Nothing else
of the app changes.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections import Counter

from bench import ROOT


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def install() -> None:
    from nicegui import Client, app
    from nicegui.element import Element

    @app.get("/__bench/objects", include_in_schema=False)
    async def objects() -> dict[str, object]:  # on the loop: asyncio.all_tasks() needs it
        before = _rss_mb()
        gc.collect()
        everything = gc.get_objects()
        elements = [o for o in everything if isinstance(o, Element)]
        orphans: Counter[str] = Counter()
        for element in elements:
            client = element._client() if hasattr(element, "_client") else None
            if client is None or client.is_deleted or client.id not in Client.instances:
                orphans[type(element).__name__] += 1
        ours: Counter[str] = Counter()
        for o in everything:
            module = getattr(type(o), "__module__", None)
            if isinstance(module, str) and module.split(".")[0] in {"ui", "llm"}:
                ours[type(o).__name__] += 1
        return {
            "clients": len(Client.instances),
            "elements": len(elements),
            "orphan_elements": sum(orphans.values()),
            "orphans_by_type": dict(orphans.most_common(8)),
            "rivulet_objects": dict(ours.most_common(8)),
            "tasks": len(asyncio.all_tasks()),
            "upload_routes": sum("/upload/" in str(getattr(r, "path", "")) for r in app.routes),
            "gc_objects": len(everything),
            "rss_mb_before_gc": round(before, 1),
            "rss_mb_after_gc": round(_rss_mb(), 1),
        }

    @app.get("/__bench/referrers", include_in_schema=False)
    async def referrers(type_name: str = "ChatPage", depth: int = 3) -> dict[str, object]:
        """Who keeps the oldest object of `type_name` alive: referrer types, `depth` levels up."""
        gc.collect()
        found = [o for o in gc.get_objects() if type(o).__name__ == type_name]
        if not found:
            return {"count": 0}
        frame_types = {"frame", "list_iterator"}

        def describe(obj: object, level: int, seen: set[int]) -> list[object]:
            out: list[object] = []
            for ref in gc.get_referrers(obj):
                if id(ref) in seen or type(ref).__name__ in frame_types or ref is found:
                    continue
                seen.add(id(ref))
                label = type(ref).__name__
                if isinstance(ref, dict):
                    keys = [k for k, v in ref.items() if v is obj][:3]
                    label += f" (key {keys})" if keys else f" ({len(ref)} items)"
                elif hasattr(ref, "__qualname__"):
                    label += f" {ref.__qualname__}"
                out.append([label, describe(ref, level - 1, seen)] if level > 1 else label)
                if len(out) >= 8:
                    break
            return out

        return {"count": len(found), "referrers": describe(found[0], depth, {id(found)})}


if __name__ == "__main__":
    install()
    sys.argv[0] = str(ROOT / "main.py")
    import main

    sys.exit(main.main())
