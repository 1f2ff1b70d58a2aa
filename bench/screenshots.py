"""The README's screenshots (docs/*.png): Rivulet with the fake model, in Debian's headless Chromium.

    .venv/bin/python -m bench.screenshots          # = make screenshots (about half a minute)

screenshot.png  a finished answer (the README's first picture)
streaming.png   an answer half-way through
dark.png        the same conversation after a stop, a regenerate and a reload, in dark mode
phone.png       a finished answer at phone width (390 px, 2x)
thinking.png    a reasoning model's answer with its "Thought for …" section opened (the tests' OpenAI-style server)
agent.png       examples/agent.py's answer with its three tool calls, one card opened

docs/native-window.png is not made here: it needs the desktop window (make native-deps). Each state runs its own
`main.py` on a free 127.0.0.1 port with a throw-away data dir; nothing else is written.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench import ROOT
from tests.support.browser import LAST_ANSWER, LAST_STATUS, PROMPT, ask, poll
from tests.support.chromium import open_browser
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.servers import rivulet_process

DOCS = ROOT / "docs"
WIDE = {"width": 1100, "height": 760}
TALL = {"width": 1100, "height": 840}  # the whole finished answer, its question included


async def open_page(browser: Any, url: str, **options: Any) -> Any:
    page = await browser.new_page(**options)
    await page.goto(url)
    await page.wait_for_selector(PROMPT)
    return page


async def finished(browser: Any, folder: Path, data: str) -> None:
    with rivulet_process("--model", "fake:chunks=125,rate=60", env={"RIVULET_DATA_DIR": data}) as url:
        page = await open_page(browser, url, viewport=TALL)
        await ask(page, "How does Rivulet stream an answer?")
        await poll(page, LAST_STATUS, lambda text: "125 chunks" in text, limit=30)
        await page.mouse.move(500, 400)  # no tooltip in the picture
        await page.wait_for_timeout(400)
        await page.screenshot(path=str(folder / "screenshot.png"))


async def streaming_and_dark(browser: Any, folder: Path, data: str) -> None:
    with rivulet_process("--model", "fake:chunks=300,rate=60", env={"RIVULET_DATA_DIR": data}) as url:
        page = await open_page(browser, url, viewport=WIDE)
        await ask(page, "Show me how streaming looks")
        await poll(page, LAST_ANSWER, lambda text: len(text.split()) >= 40)
        await page.screenshot(path=str(folder / "streaming.png"))
        await page.get_by_role("button", name="Stop").click()
        await poll(page, LAST_STATUS, lambda text: "Stopped" in text)
        await page.get_by_role("button", name="Regenerate").click()
        await poll(page, LAST_STATUS, lambda text: "300 chunks" in text, limit=30)
        await page.reload()
        await page.wait_for_selector(".user-message")
        await page.get_by_role("button", name="Theme: follows the system").click()
        await page.wait_for_function("getComputedStyle(document.body).backgroundColor === 'rgb(18, 18, 18)'")
        await page.mouse.move(500, 400)
        await page.wait_for_timeout(400)
        await page.screenshot(path=str(folder / "dark.png"))


async def phone(browser: Any, folder: Path, data: str) -> None:
    with rivulet_process("--model", "fake:rate=0", env={"RIVULET_DATA_DIR": data}) as url:
        page = await open_page(browser, url, viewport={"width": 390, "height": 844}, device_scale_factor=2)
        await ask(page, "What does Rivulet do?")
        await poll(page, LAST_STATUS, lambda text: "chunks" in text and "·" in text)
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(folder / "phone.png"))


async def thinking(browser: Any, folder: Path, data: str) -> None:
    server = FakeOpenAIServer().start()
    try:
        args = ("--model", "openai:reasoning-content", "--base-url", server.base_url)
        with rivulet_process(*args, env={"RIVULET_DATA_DIR": data, "OPENAI_API_KEY": "not-needed"}) as url:
            page = await open_page(browser, url, viewport=WIDE)
            await ask(page, "Give me a test answer, but think first.")
            await poll(page, LAST_STATUS, lambda text: "chunks" in text and "·" in text)
            await page.get_by_text("Thought for").click()
            await page.mouse.move(500, 600)
            await page.wait_for_timeout(500)
            await page.screenshot(path=str(folder / "thinking.png"))
    finally:
        server.stop()


async def agent(browser: Any, folder: Path, data: str) -> None:
    with rivulet_process("--model", "py:examples.agent:build_agent", env={"RIVULET_DATA_DIR": data}) as url:
        page = await open_page(browser, url, viewport=TALL)
        await ask(page, "How many people live in Paris and Berlin together?")
        await poll(page, LAST_STATUS, lambda text: "3 tool calls" in text, limit=30)
        await page.get_by_text("calculate ·").click()
        await page.mouse.move(500, 700)
        await page.wait_for_timeout(500)
        await page.screenshot(path=str(folder / "agent.png"))


async def main(folder: Path) -> None:
    async with open_browser() as browser:
        for state in (finished, streaming_and_dark, phone, thinking, agent):
            with tempfile.TemporaryDirectory(prefix="rivulet-screenshots-", ignore_cleanup_errors=True) as data:
                await state(browser, folder, data)
    for name in ("screenshot.png", "streaming.png", "dark.png", "phone.png", "thinking.png", "agent.png"):
        print(folder / name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the pictures (default: docs/)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(out))
