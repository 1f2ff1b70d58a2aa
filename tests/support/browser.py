"""Driving the page in Chromium (Playwright) and reading what it shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from playwright.async_api import Error as PlaywrightError

PROMPT = ".prompt textarea"
LAST_ANSWER = (
    "() => { const a = document.querySelectorAll('.answer-body'); return a.length ? a[a.length - 1].innerText : ''; }"
)
LAST_STATUS = (
    "() => { const a = document.querySelectorAll('.answer-status'); return a.length ? a[a.length - 1].innerText : ''; }"
)


async def poll(page: Any, script: str, until: Callable[[Any], bool], limit: float = 20.0) -> list[Any]:
    """Evaluate `script` every 20 ms until `until(value)`; returns the distinct values seen."""
    seen: list[Any] = []
    deadline = time.monotonic() + limit
    while True:
        try:
            value = await page.evaluate(script)
        except PlaywrightError as error:
            # NiceGUI reloads a tab whose connection was lost for too long (a loaded machine);
            # the reloaded page shows the same conversation, so look again there.
            assert "Execution context was destroyed" in str(error), error
            assert time.monotonic() < deadline, "timed out while the page kept reloading"
            await page.wait_for_load_state()
            continue
        if not seen or seen[-1] != value:
            seen.append(value)
        if until(value):
            return seen
        assert time.monotonic() < deadline, f"timed out; last value: {str(value)[:200]!r}"
        await asyncio.sleep(0.02)


#: True once the page's websocket is connected and NiceGUI knows the tab.
CONNECTED = "() => !!(window.socket && window.socket.connected && window.did_handshake)"


async def ask(page: Any, prompt: str) -> None:
    """Type `prompt` and press Enter, once the page is connected (as a reader would, who sees it ready).

    Under load a tab may take longer to connect than NiceGUI waits for it, and NiceGUI then
    reloads the tab; a prompt typed before that would be lost with the old page.
    """
    await page.wait_for_function(CONNECTED, timeout=30_000)
    await page.fill(PROMPT, prompt)
    await page.press(PROMPT, "Enter")
