"""Load: 20 concurrent /ask streams and 8 browser tabs at once, every byte delivered, pages still streaming."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from llm.fake import demo_words
from tests.support.browser import LAST_ANSWER, LAST_STATUS, PROMPT, ask, poll
from tests.support.servers import rivulet_process

CHUNKS = 200


async def test_twenty_streams_and_eight_tabs_all_complete(browser: Any, tmp_path: Path) -> None:
    expected = "".join(demo_words(CHUNKS))
    env = {"RIVULET_DATA_DIR": str(tmp_path)}
    with rivulet_process("--model", f"fake:chunks={CHUNKS},rate=100", env=env) as url:

        async def one_stream(client: httpx.AsyncClient) -> str:
            parts = []
            async with client.stream("POST", f"{url}/ask", json={"prompt": "load"}) as response:
                assert response.status_code == 200
                async for text in response.aiter_text():
                    parts.append(text)
            return "".join(parts)

        async def one_tab() -> list[str]:
            page = await browser.new_page(viewport={"width": 800, "height": 600})
            await page.goto(url)
            await page.wait_for_selector(PROMPT)
            await ask(page, "load")
            states = await poll(page, LAST_STATUS, lambda text: f"{CHUNKS} chunks" in text, limit=60)
            text = await page.evaluate(LAST_ANSWER)
            await page.close()
            return [text, *states]

        async with httpx.AsyncClient(timeout=60) as client:
            results = await asyncio.gather(*(one_stream(client) for _ in range(20)), *(one_tab() for _ in range(8)))
    bodies, tabs = results[:20], results[20:]
    assert bodies == [expected] * 20
    for text, *states in tabs:
        assert "Streaming, one chunk at a time" in text
        assert len(states) >= 3, "a tab did not see its answer grow while the server was busy"
