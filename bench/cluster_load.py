"""Load through nginx: browser tabs and `/ask` clients at W2 pace against 1 and then 2 Rivulet instances.

    .venv/bin/python -m bench.cluster_load                      # 16 tabs + 20 /ask clients, 1 then 2 instances
    .venv/bin/python -m bench.cluster_load --tabs 4 --clients 4 --instances 2

Each configuration is a fresh `deploy.cluster.Cluster` (Redis, N instances, nginx; the model is
`fake:chunks=2000,rate=200`, W2's 2,000 chunks at 200 chunks/s, so an answer takes the model 10 s). All tabs and
clients start together (the tabs' pages are loaded first, one after the other). Per instance (from
`X-Rivulet-Instance`) it prints:
- tabs: how much longer than the model's 10 s the page took to show the whole answer ("lag"), median and worst;
- /ask: the same for the last byte, and the longest silence between two reads ("stall");
- errors: failed requests, tabs that did not finish in time, or answers that came back short.
The two configurations run one after the other in the same process, so they compare on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploy.cluster import Cluster
from tests.support.browser import PROMPT
from tests.support.chromium import open_browser

CHUNKS, RATE = 2000, 200
MODEL = f"fake:chunks={CHUNKS},rate={RATE}"
MODEL_SECONDS = CHUNKS / RATE
DONE = f"() => [...document.querySelectorAll('.answer-status')].some(e => e.innerText.includes('{CHUNKS} chunks'))"


@dataclass
class Figures:
    """What one instance served in one configuration."""

    tab_lag: list[float] = field(default_factory=list)
    ask_lag: list[float] = field(default_factory=list)
    ask_stall: list[float] = field(default_factory=list)
    errors: int = 0


async def one_ask(client: httpx.AsyncClient, url: str, figures: dict[str, Figures], expected: int) -> None:
    started = time.monotonic()
    instance, last, stall, size = "?", started, 0.0, 0
    try:
        async with client.stream("POST", f"{url}/ask", json={"prompt": "load"}) as response:
            instance = response.headers.get("x-rivulet-instance", "?")
            if response.status_code != 200:
                figures[instance].errors += 1
                return
            async for piece in response.aiter_bytes():
                now = time.monotonic()
                stall, last, size = max(stall, now - last), now, size + len(piece)
    except httpx.HTTPError:
        figures[instance].errors += 1
        return
    if size < expected:
        figures[instance].errors += 1
        return
    figures[instance].ask_lag.append(last - started - MODEL_SECONDS)
    figures[instance].ask_stall.append(stall)


async def open_tab(browser: Any, url: str) -> tuple[Any, Any, str]:
    """A browser of its own (its own cookie, so nginx may pick either instance) with the page loaded."""
    context = await browser.new_context()
    page = await context.new_page()
    response = await page.goto(url, timeout=60_000)
    await page.wait_for_selector(PROMPT, timeout=60_000)
    return context, page, (response.headers.get("x-rivulet-instance") if response else None) or "?"


async def one_tab(page: Any, instance: str, figures: dict[str, Figures], limit: float) -> None:
    try:
        await page.fill(PROMPT, "load")
        started = time.monotonic()
        await page.press(PROMPT, "Enter")
        await page.wait_for_function(DONE, timeout=limit * 1000, polling=50)
    except Exception:  # Playwright's timeout or a closed page: the answer did not finish
        figures[instance].errors += 1
        return
    figures[instance].tab_lag.append(time.monotonic() - started - MODEL_SECONDS)


async def expected_size(url: str) -> int:
    """The bytes of one whole answer (the fake is deterministic), asked alone before the load starts."""
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{url}/ask", json={"prompt": "load"})
        return len(response.content)


async def run(instances: int, tabs: int, clients: int, limit: float) -> dict[str, Figures]:
    figures: dict[str, Figures] = defaultdict(Figures)
    with Cluster(instances=instances, model=MODEL) as cluster:
        expected = await expected_size(cluster.url)
        async with open_browser() as browser, httpx.AsyncClient(timeout=httpx.Timeout(limit)) as client:
            opened = [await open_tab(browser, cluster.url) for _ in range(tabs)]  # pages first, one at a time
            work = [one_tab(page, instance, figures, limit) for _, page, instance in opened]
            work += [one_ask(client, cluster.url, figures, expected) for _ in range(clients)]
            await asyncio.gather(*work)  # then every answer at once
            for context, _, _ in opened:
                await context.close()
    return dict(figures)


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def report(results: dict[int, dict[str, Figures]], tabs: int, clients: int) -> str:
    lines = [
        f"{tabs} tabs + {clients} /ask clients at once, each one answer of {CHUNKS} chunks at {RATE}/s "
        f"({MODEL_SECONDS:.0f} s for the model); seconds beyond that, median / worst",
        "",
        "| instances | instance | tabs done | tab lag s | /ask done | /ask lag s | /ask longest stall s | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for instances, per_instance in results.items():
        for name, figures in sorted(per_instance.items()):
            lines.append(
                f"| {instances} | {name} | {len(figures.tab_lag)} | {cell(figures.tab_lag)} | {len(figures.ask_lag)} "
                f"| {cell(figures.ask_lag)} | {cell(figures.ask_stall)} | {figures.errors} |"
            )
        every = list(per_instance.values())
        tab_lag = [x for f in every for x in f.tab_lag]
        ask_lag = [x for f in every for x in f.ask_lag]
        lines.append(
            f"| {instances} | all | {len(tab_lag)} | {cell(tab_lag)} | {len(ask_lag)} | {cell(ask_lag)} "
            f"| {cell([x for f in every for x in f.ask_stall])} | {sum(f.errors for f in every)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=16)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--instances", default="1,2", help="configurations to compare, comma-separated (1,2)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one answer may take under load")
    args = parser.parse_args()
    results: dict[int, dict[str, Figures]] = {}
    for instances in (int(n) for n in args.instances.split(",")):
        with contextlib.suppress(KeyboardInterrupt):
            results[instances] = asyncio.run(run(instances, args.tabs, args.clients, args.timeout))
    print(report(results, args.tabs, args.clients))


if __name__ == "__main__":
    main()
