"""Debian's Chromium, headless, through Playwright: the one launcher of the browser tests, the benchmarks and
`make screenshots` (never a downloaded browser; this machine has no network)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

#: Headless, with no background traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = "Debian's chromium is not installed (make system-deps installs it)"


def chromium_path() -> str | None:
    """Debian's Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def launch(playwright: Any, executable: str | None = None) -> Any:
    """Start Chromium (`executable`, default Debian's) with CHROMIUM_ARGS from a running Playwright."""
    path = executable or chromium_path()
    if not path:
        raise RuntimeError(MISSING)
    return await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


@contextlib.asynccontextmanager
async def open_browser(executable: str | None = None) -> AsyncIterator[Any]:
    """Playwright and one Chromium for the block; both end with it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright, executable)
        try:
            yield browser
        finally:
            await browser.close()
