"""The README's browser snippet, run in headless Chromium from a page on a second local origin."""

from __future__ import annotations

import asyncio
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm.fake import FakeStreamingChatModel
from tests.support.chromium import open_browser
from tests.support.servers import ROOT, free_port, run_api

PIECES = [
    "Moby-Dick ",
    "is ",
    "a ",
    "whale ",
    "of ",
    "a ",
    "tale: ",
    "Ishmael ",
    "sails ",
    "with ",
    "Ahab. ",
    "Ünïcödé ✓",
]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- ask-client -->\s*```html\n(.*?)```", text, re.S)
    assert match, "README.md lost its browser snippet"
    return match.group(1)


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://localhost:{port}"
    server.shutdown()


async def test_readme_snippet_streams_in_chromium(chromium: str, static_site: tuple[Path, str]) -> None:
    folder, origin = static_site
    with run_api(FakeStreamingChatModel(pieces=PIECES, rate=12)) as url:
        (folder / "index.html").write_text(readme_snippet().replace("http://127.0.0.1:8080", url))
        async with open_browser(chromium) as browser:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{origin}/index.html")
            states: list[str] = []
            final = "".join(PIECES)
            for _ in range(1000):
                text = await page.text_content("#answer") or ""
                if not states or states[-1] != text:
                    states.append(text)
                if text == final:
                    break
                await asyncio.sleep(0.01)
    assert not errors
    assert states[-1] == final
    growing = [s for s in states if s and s != final]
    assert len(growing) >= 3, states
    assert all(final.startswith(s) for s in states)
