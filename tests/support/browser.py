"""Driving the page in Chromium (Playwright) and reading what it shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

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
        value = await page.evaluate(script)
        if not seen or seen[-1] != value:
            seen.append(value)
        if until(value):
            return seen
        assert time.monotonic() < deadline, f"timed out; last value: {str(value)[:200]!r}"
        await asyncio.sleep(0.02)


async def ask(page: Any, prompt: str) -> None:
    await page.fill(PROMPT, prompt)
    await page.press(PROMPT, "Enter")
