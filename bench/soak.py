"""Bounded soak: /ask streams and browser tabs against one Rivulet server; does it grow?

    .venv/bin/python -m bench.soak [--seconds 120] [--clients 4]

Starts `main.py --model fake:chunks=300,rate=0` on a free 127.0.0.1 port, keeps `--clients`
/ask streams going and opens/closes a Chromium tab every few seconds, and samples the server's
RSS, threads and open file descriptors every 5 s. Prints the samples and compares the first
and last third. Stops by itself after `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time

import httpx
import psutil

from bench import RESULTS, ROOT
from tests.support.chromium import open_browser
from tests.support.servers import rivulet_server

DONE = "() => [...document.querySelectorAll('.answer-status')].some(e => e.innerText.includes('300 chunks'))"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    counts = {"ask": 0, "ask_bytes": 0, "tabs": 0, "errors": 0}
    samples: list[dict[str, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="rivulet-soak-", ignore_cleanup_errors=True) as data,
        rivulet_server("--model", "fake:chunks=300,rate=0", env={"RIVULET_DATA_DIR": data}) as server,
    ):
        url = server.url
        proc = psutil.Process(server.pid)
        deadline = time.monotonic() + args.seconds
        async with httpx.AsyncClient(timeout=30) as client:

            async def asker() -> None:
                while time.monotonic() < deadline:
                    try:
                        response = await client.post(f"{url}/ask", json={"prompt": "soak"})
                        counts["ask"] += 1
                        counts["ask_bytes"] += len(response.content)
                    except httpx.HTTPError:
                        counts["errors"] += 1

            async def tabs() -> None:
                async with open_browser() as browser:
                    while time.monotonic() < deadline:
                        context = await browser.new_context()  # a new visitor each time: a new conversation
                        page = await context.new_page()
                        await page.goto(url)
                        await page.fill(".prompt textarea", "soak")
                        await page.press(".prompt textarea", "Enter")
                        await page.wait_for_function(DONE, timeout=30_000)
                        await context.close()
                        counts["tabs"] += 1

            async def sampler() -> None:
                start = time.monotonic()
                while time.monotonic() < deadline:
                    samples.append({
                        "t": round(time.monotonic() - start, 1),
                        "rss_mb": proc.memory_info().rss / 2**20,
                        "threads": proc.num_threads(),
                        "fds": proc.num_fds(),
                    })  # fmt: skip
                    await asyncio.sleep(5)

            await asyncio.gather(*(asker() for _ in range(args.clients)), tabs(), sampler())
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    summary = {
        "seconds": args.seconds,
        **counts,
        **{
            f"{key}_first_third": round(statistics.median(s[key] for s in first), 1)
            for key in ("rss_mb", "threads", "fds")
        },
        **{
            f"{key}_last_third": round(statistics.median(s[key] for s in last), 1)
            for key in ("rss_mb", "threads", "fds")
        },
    }
    for sample in samples:
        rss, threads, fds = sample["rss_mb"], sample["threads"], sample["fds"]
        print(f"t={sample['t']:6.1f}s  rss={rss:7.1f} MB  threads={threads:3.0f}  fds={fds:4.0f}")
    print(json.dumps(summary, indent=2))
    out = RESULTS / "soak.json"
    out.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
