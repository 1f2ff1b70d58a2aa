"""Redis traffic per answer: what two instances behind nginx send to and get from Redis for one page answer.

    .venv/bin/python -m bench.redis_bytes          # answers of 500, 1,000 and 2,000 chunks, a fresh cluster each

For each size it starts `deploy.cluster.Cluster` (Redis, 2 instances, nginx; `fake:chunks=N,rate=0`), opens the
page in headless Chromium, waits until the page is connected, reads Redis's `INFO stats` byte counters, asks once,
waits for the answer's status line, then for Redis's counters to stand still for a second, and reads them again
(less what its own `INFO` calls cost).
It prints the bytes into and out of Redis per answer next to the answer's size: the target is O(answer) (the
conversation is written when the prompt is sent and when the answer ends), not O(answer x flushes).
"""

from __future__ import annotations

import asyncio
import time

import redis

from deploy.cluster import Cluster
from tests.support.browser import LAST_STATUS, PROMPT, ask, poll
from tests.support.chromium import open_browser

SIZES = (500, 1000, 2000)


class Meter:
    """Redis's total byte counters, less what this meter's own `INFO` calls cost (each is about 1.3 kB out)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        first, second = self._raw(), self._raw()
        self.cost = (second[0] - first[0], second[1] - first[1])  # one INFO call, in and out
        self.calls = 0

    def _raw(self) -> tuple[int, int]:
        stats = self.client.info("stats")
        return int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])

    def read(self) -> tuple[int, int]:
        raw = self._raw()
        self.calls += 1
        return raw[0] - self.calls * self.cost[0], raw[1] - self.calls * self.cost[1]

    def settled(self, quiet: float = 1.0, limit: float = 20.0) -> tuple[int, int]:
        """The counters once nothing but this meter has moved them for `quiet` seconds (the last writes are out)."""
        deadline = time.monotonic() + limit
        last, since = self.read(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.read()
            if abs(now[0] - last[0]) > 8:  # the INFO reply's length varies by a few digits
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last


async def one(chunks: int) -> tuple[int, int, int]:
    """(answer characters, bytes into Redis, bytes out of Redis) for one answer of `chunks` chunks."""
    with Cluster(instances=2, model=f"fake:chunks={chunks},rate=0") as cluster:
        assert cluster.redis is not None
        client = redis.Redis(host="127.0.0.1", port=cluster.redis.port)
        meter = Meter(client)
        async with open_browser() as browser:
            page = await browser.new_page()
            await page.goto(cluster.url)
            await page.wait_for_selector(PROMPT)
            before = await asyncio.to_thread(meter.settled)
            await ask(page, "bytes")
            await poll(page, LAST_STATUS, lambda text: f"{chunks} chunks" in text, limit=60)
            after = await asyncio.to_thread(meter.settled)
            answer = await page.evaluate(
                "() => { const a = document.querySelectorAll('.answer-body'); return a[a.length - 1].innerText; }"
            )
        client.close()
    return len(answer), after[0] - before[0], after[1] - before[1]


def main() -> None:
    rows = [(chunks, *asyncio.run(one(chunks))) for chunks in SIZES]
    print("| chunks | answer chars (shown) | bytes into Redis | ÷ answer | bytes out of Redis | ÷ answer |")
    print("|---|---|---|---|---|---|")
    for chunks, chars, into, out in rows:
        print(f"| {chunks} | {chars:,} | {into:,} | {into / chars:.2f} | {out:,} | {out / chars:.2f} |")


if __name__ == "__main__":
    main()
