"""Bounded soak: /ask streams and browser tabs against one Rivulet server; does it grow?

    .venv/bin/python bench/soak.py [--seconds 120] [--clients 4]

Starts `main.py --model fake:chunks=300,rate=0` on a free 127.0.0.1 port, keeps `--clients`
/ask streams going and opens/closes a Chromium tab every few seconds, and samples the server's
RSS, threads and open file descriptors every 5 s. Prints the samples and compares the first
and last third. Stops by itself after `--seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
DONE = "() => [...document.querySelectorAll('.answer-status')].some(e => e.innerText.includes('300 chunks'))"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RIVULET_"))}
    env["RIVULET_DATA_DIR"] = tempfile.mkdtemp(prefix="rivulet-soak-")
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [sys.executable, str(ROOT / "main.py"), "--model", "fake:chunks=300,rate=0", "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    proc = psutil.Process(server.pid)
    deadline = time.monotonic() + args.seconds
    counts = {"ask": 0, "ask_bytes": 0, "tabs": 0, "errors": 0}
    samples: list[dict[str, float]] = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(100):
                try:
                    await client.get(url)
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)

            async def asker() -> None:
                while time.monotonic() < deadline:
                    try:
                        response = await client.post(f"{url}/ask", json={"prompt": "soak"})
                        counts["ask"] += 1
                        counts["ask_bytes"] += len(response.content)
                    except httpx.HTTPError:
                        counts["errors"] += 1

            async def tabs() -> None:
                from playwright.async_api import async_playwright

                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                    while time.monotonic() < deadline:
                        context = await browser.new_context()  # a new visitor each time: a new conversation
                        page = await context.new_page()
                        await page.goto(url)
                        await page.fill(".prompt textarea", "soak")
                        await page.press(".prompt textarea", "Enter")
                        await page.wait_for_function(DONE, timeout=30_000)
                        await context.close()
                        counts["tabs"] += 1
                    await browser.close()

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
    finally:
        server.terminate()
        server.wait(10)
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
    out = ROOT / "bench" / "results" / "soak.json"
    out.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
