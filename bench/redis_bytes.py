"""Redis traffic per answer: what two instances behind nginx send to and get from Redis for one page answer.

    .venv/bin/python -m bench.redis_bytes             # answers of 500, 1,000 and 2,000 chunks at 200/s (W2's pace)
    .venv/bin/python -m bench.redis_bytes --rate 0    # as fast as the fake goes: the answer ends before a flush

For each size it starts `deploy.cluster.Cluster` (Redis, 2 instances, nginx; `fake:chunks=N,rate=R`), opens the
page in headless Chromium and a second tab of the same browser directly on the other instance, waits until both are
connected, reads Redis's `INFO stats` byte counters, asks once, reloads the second tab (which then follows the
answer), waits for the answer's status line in both tabs,
then for Redis's counters to stand still for a second, and reads them again (less what its own `INFO` calls cost).
It prints the bytes into and out of Redis per answer next to the answer's size: the target is O(answer), not
O(answer x flushes): the conversation is written when the prompt is sent and when the answer ends, and the running
answer's stream gets only what is new per flush (`ui.answer_stream`), read once by the other instance's tab.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import redis

from deploy.cluster import Cluster
from tests.support.browser import LAST_ANSWER, LAST_STATUS, PROMPT, ask, poll
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


async def one(chunks: int, rate: float) -> tuple[int, int, int]:
    """(answer characters, bytes into Redis, bytes out of Redis) for one answer of `chunks` chunks."""
    with Cluster(instances=2, model=f"fake:chunks={chunks},rate={rate:g}") as cluster:
        assert cluster.redis is not None
        client = redis.Redis(host="127.0.0.1", port=cluster.redis.port)
        meter = Meter(client)
        async with open_browser() as browser:
            context = await browser.new_context()
            page = await context.new_page()
            response = await page.goto(cluster.url)
            assert response is not None
            await page.wait_for_selector(PROMPT)
            other = next(node for node in cluster.nodes if node.name != response.headers.get("x-rivulet-instance"))
            follower = await context.new_page()  # the same browser on the other instance: it follows the answer
            await follower.goto(other.url)
            await follower.wait_for_selector(PROMPT)
            before = await asyncio.to_thread(meter.settled)
            await ask(page, "bytes")
            await poll(page, LAST_ANSWER, bool, limit=30)  # streaming (and the conversation is in Redis)
            await follower.reload()  # it opens the browser's current conversation: the one just asked in
            for tab in (page, follower):
                await poll(tab, LAST_STATUS, lambda text: f"{chunks} chunks" in text, limit=60)
            after = await asyncio.to_thread(meter.settled)
            answer = await page.evaluate(
                "() => { const a = document.querySelectorAll('.answer-body'); return a[a.length - 1].innerText; }"
            )
        client.close()
    return len(answer), after[0] - before[0], after[1] - before[1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_bytes", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="chunks per second of the fake model (0: no pause)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="answer sizes in chunks")
    args = parser.parse_args()
    rows = [(chunks, *asyncio.run(one(chunks, args.rate))) for chunks in args.sizes]
    print("| chunks | answer chars (shown) | bytes into Redis | ÷ answer | bytes out of Redis | ÷ answer |")
    print("|---|---|---|---|---|---|")
    for chunks, chars, into, out in rows:
        print(f"| {chunks} | {chars:,} | {into:,} | {into / chars:.2f} | {out:,} | {out / chars:.2f} |")


if __name__ == "__main__":
    main()
