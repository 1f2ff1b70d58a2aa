"""Unicode of every kind round-trips through /ask and the page, or is rejected cleanly."""

from __future__ import annotations

import httpx
import pytest
from nicegui.testing import User

from tests.support.models import EchoFake
from tests.support.page import answers, prompts, send, serve, wait_for
from tests.support.servers import run_api

TEXTS = {
    "rtl": "שלום עולם مرحبا بالعالم",
    "combining": "e\u0301 a\u0300 n\u0303 Z\u0351\u0352\u0353 ǅ",
    "emoji": "👩‍👩‍👧‍👦 🏳️‍🌈 🇳🇱 🌊🎉",
    "cjk": "日本語のテキスト 한국어 中文",
    "nul": "before\x00after",
    "controls": "tab\there bell\x07 zero-width\u200bjoin",
}


@pytest.mark.parametrize("name", TEXTS)
async def test_ask_round_trips_unicode(name: str) -> None:
    text = TEXTS[name]
    with run_api(EchoFake(rate=0)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(f"{url}/ask", json={"prompt": text})
    assert response.status_code == 200
    assert response.text == text


async def test_lone_surrogates_are_rejected_cleanly() -> None:
    with run_api(EchoFake(rate=0)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            bad = await client.post(
                f"{url}/ask", content=b'{"prompt": "\\ud800 broken"}', headers={"Content-Type": "application/json"}
            )
            bad_bytes = await client.post(
                f"{url}/ask", content=b'{"prompt": "\xff\xfe"}', headers={"Content-Type": "application/json"}
            )
            good = await client.post(f"{url}/ask", json={"prompt": "still fine"})
    assert bad.status_code == 422 and "invalid Unicode" in bad.json()["error"]
    assert bad_bytes.status_code == 422 and "not valid JSON" in bad_bytes.json()["error"]
    assert good.text == "still fine"


@pytest.mark.parametrize("name", ["rtl", "combining", "emoji", "nul"])
async def test_page_shows_unicode_exactly(user: User, name: str) -> None:
    text = TEXTS[name]
    serve(EchoFake(rate=0))
    await user.open("/")
    send(user, text)
    await wait_for(lambda: bool(answers(user)) and answers(user)[-1] == text)
    assert prompts(user) == [text]
