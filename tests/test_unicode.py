"""Unicode of every kind round-trips through /ask and the page, or is rejected cleanly."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from tests.support.models import EchoFake, ask_in_process, parse_sse
from tests.support.page import answers, prompts, send, serve, wait_for

JSON = {"Content-Type": "application/json"}

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
    async with ask_in_process(EchoFake(rate=0)) as client:
        plain = await client.post("/ask", json={"prompt": text})
        sse = await client.post("/ask", json={"prompt": text}, headers={"Accept": "text/event-stream"})
    assert plain.status_code == 200
    assert plain.text == text
    assert "".join(data for event, data in parse_sse(sse.text) if event == "message") == text


async def test_lone_surrogates_are_rejected_cleanly() -> None:
    model = EchoFake(rate=0)
    async with ask_in_process(model) as client:
        bad = await client.post("/ask", content=b'{"prompt": "\\ud800 broken"}', headers=JSON)
        bad_history = await client.post(
            "/ask", content=b'{"prompt": "hi", "history": [{"role": "user", "content": "\\udfff"}]}', headers=JSON
        )
        bad_bytes = await client.post("/ask", content=b'{"prompt": "\xff\xfe"}', headers=JSON)
        good = await client.post("/ask", json={"prompt": "still fine"})
    assert bad.status_code == 422
    assert "prompt: Value error, contains invalid Unicode (a lone surrogate)" in bad.json()["error"]
    assert bad_history.status_code == 422
    assert "history.0.content: Value error, contains invalid Unicode" in bad_history.json()["error"]
    assert bad_bytes.status_code == 422
    assert bad_bytes.json()["error"] == 'The body is not valid JSON. Send {"prompt": "your question"}.'
    assert good.text == "still fine"
    assert len(model.calls) == 1  # only the good one reached the model


@pytest.mark.parametrize("name", ["rtl", "combining", "emoji", "nul"])
async def test_page_shows_unicode_exactly(user: User, name: str) -> None:
    text = TEXTS[name]
    serve(EchoFake(rate=0))
    await user.open("/")
    send(user, text)
    await wait_for(lambda: bool(answers(user)) and answers(user)[-1] == text)
    assert prompts(user) == [text]
