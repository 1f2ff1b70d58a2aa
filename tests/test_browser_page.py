"""The page in a real browser (Debian's headless Chromium via Playwright) against `main.py`.

Screenshots taken here go to the test's tmp_path; the README's (docs/*.png) come from `make screenshots`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.support.browser import LAST_ANSWER, LAST_STATUS, PROMPT, ask, poll
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.models import HOSTILE, LONG_CODE_LINES, LONG_TABLE_ROWS, MIXED_MARKDOWN
from tests.support.servers import rivulet_process
from ui.safe_markdown import render_markdown


async def test_chat_flow_in_a_real_browser(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:chunks=300,rate=60", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1100, "height": 760})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        # the answer grows in several steps
        await ask(page, "Show me how streaming looks")
        states = await poll(page, LAST_ANSWER, lambda text: len(text.split()) >= 40)
        growing = [s for s in states if s]
        assert len(growing) >= 3 and len(growing[-1]) > len(growing[0])
        assert all(state.startswith("Streaming, one chunk") for state in growing[1:])
        await page.screenshot(path=str(tmp_path / "streaming.png"))
        # stop it
        await page.get_by_role("button", name="Stop").click()
        await poll(page, LAST_STATUS, lambda text: "Stopped" in text)
        stopped = await page.evaluate(LAST_ANSWER)
        await asyncio.sleep(0.3)
        assert await page.evaluate(LAST_ANSWER) == stopped
        # regenerate: a complete answer replaces it, the stopped one stays as a version
        await page.get_by_role("button", name="Regenerate").click()
        await poll(page, LAST_STATUS, lambda text: "300 chunks" in text, limit=30)
        await page.get_by_role("button", name="2 versions").wait_for()
        # a second conversation, then back to the first through the drawer
        await page.get_by_role("button", name="Conversations").click()
        await page.get_by_role("button", name="New chat").click()
        await ask(page, "A second conversation")
        await poll(page, LAST_STATUS, lambda text: "300 chunks" in text, limit=30)
        prompts = "() => [...document.querySelectorAll('.user-message')].map(e => e.innerText)"
        for attempt in range(3):  # a click that lands while the list is being redrawn is lost: click again
            await page.get_by_role("button", name="Show me how streaming looks").click()
            try:
                await poll(page, prompts, lambda texts: texts == ["Show me how streaming looks"], limit=5)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        # a conversation's menu is made when it is first opened, and opens at that click
        await page.get_by_role("button", name="Rename or delete").first.click()
        await page.get_by_text("Rename", exact=True).click()
        await page.locator(".q-dialog input").fill("Renamed in the browser")
        await page.locator(".q-dialog input").press("Enter")
        await page.get_by_role("button", name="Renamed in the browser").wait_for()
        # reload: the history is still there
        await page.reload()
        await page.wait_for_selector(".user-message")
        assert await page.locator(".user-message").all_inner_texts() == ["Show me how streaming looks"]
        assert "300 chunks" in await page.evaluate(LAST_STATUS)
        # dark mode
        await page.get_by_role("button", name="Theme: follows the system").click()
        await page.wait_for_function("getComputedStyle(document.body).backgroundColor === 'rgb(18, 18, 18)'")
        await page.mouse.move(500, 400)  # no tooltip in the screenshot
        await page.wait_for_timeout(400)
        await page.screenshot(path=str(tmp_path / "dark.png"))


async def test_autoscroll_pauses_when_the_user_scrolls_up(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:chunks=1500,rate=80", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 900, "height": 600})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "long")
        container = ".q-scrollarea__container"
        at_bottom = (
            f"() => {{ const c = document.querySelector('{container}'); "
            "return c.scrollHeight - c.scrollTop - c.clientHeight < 40; }"
        )
        await poll(page, f"() => document.querySelector('{container}').scrollHeight > 3000", bool)
        await poll(page, at_bottom, bool, limit=5)  # the page follows the answer
        await page.hover(container)
        jump = page.get_by_role("button", name="Jump to the latest text")
        for _ in range(3):  # a scroll to the end that was already on its way can cut a wheel scroll short
            await page.mouse.wheel(0, -1500)
            with contextlib.suppress(PlaywrightTimeout):
                await jump.wait_for(state="visible", timeout=5000)
                break
        assert await jump.is_visible()
        scroll_top = f"() => document.querySelector('{container}').scrollTop"
        top = None
        while top != (top := await page.evaluate(scroll_top)):  # wait for the smooth wheel scroll to settle
            await asyncio.sleep(0.15)
        length = len(await page.evaluate(LAST_ANSWER))
        await poll(page, LAST_ANSWER, lambda text: len(text) > length + 200)
        assert await page.evaluate(scroll_top) == top, "the page scrolled although the user had scrolled up"
        assert not await page.evaluate(at_bottom)
        await jump.click()
        await poll(page, at_bottom, bool, limit=5)
        await page.get_by_role("button", name="Stop").click()


async def test_hostile_model_output_is_inert(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "py:tests.support.models:hostile", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), asyncio.ensure_future(dialog.dismiss())))
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "be evil")
        await poll(page, LAST_ANSWER, lambda text: text.rstrip().endswith("Harmless end."))
        await page.get_by_text("bold", exact=False).first.hover()
        await asyncio.sleep(0.3)
        assert await page.evaluate("() => window.__pwned") is None
        assert dialogs == []
        unsafe = ".answer-body script, .answer-body iframe, .answer-body img, .answer-body svg, .answer-body [style]"
        assert await page.locator(unsafe).count() == 0
        assert "<script>" in await page.evaluate(LAST_ANSWER)  # shown as text
        hrefs = await page.eval_on_selector_all(".answer-body a", "links => links.map(a => a.getAttribute('href'))")
        assert not any(href and href.lower().startswith("javascript") for href in hrefs)
        # the layout holds: no horizontal overflow, the input is still on screen
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert await page.locator(PROMPT).is_visible()
        text = await page.evaluate(LAST_ANSWER)
        assert "unbroken" * 100 in text.replace("\n", "")
        # all of it is shown, from the first line to the last, and every script tag as text
        assert text.startswith("Harmless start.") and text.rstrip().endswith("Harmless end.")
        assert text.count("<script>") == HOSTILE.count("<script>")
        await page.screenshot(path=str(tmp_path / "hostile.png"))


async def test_api_key_never_reaches_the_browser_or_the_logs(
    browser: Any, tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    canary = "sk-canary-4f1c9a7e3b2d"
    log = tmp_path / "server.log"
    env = {"OPENAI_API_KEY": canary, "RIVULET_DATA_DIR": str(tmp_path / "data")}
    with rivulet_process("--model", "openai:auth", "--base-url", fake_openai.base_url, env=env, log=log) as url:
        page = await browser.new_page()
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(str(frame))))
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "hello")
        await page.get_by_text("refused the API key").wait_for()
        html = await page.content()
    assert fake_openai.requests[-1]["_headers"]["authorization"] == f"Bearer {canary}"  # it was used
    assert frames, "no websocket traffic was captured"
    assert canary not in html
    assert not any(canary in frame for frame in frames)
    assert canary not in log.read_text()
    for file in (tmp_path / "data").rglob("*"):
        if file.is_file():
            assert canary not in file.read_text(errors="replace"), file


async def test_phone_width_stays_readable(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:rate=0", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "What does Rivulet do?")
        await poll(page, LAST_STATUS, lambda text: "chunks" in text and "·" in text)
        await page.wait_for_timeout(300)
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        container = ".q-scrollarea__container"
        overflow = f"() => {{ const c = document.querySelector('{container}'); return c.scrollWidth - c.clientWidth; }}"
        assert await page.evaluate(overflow) <= 1, "the conversation is wider than a phone screen"
        await page.screenshot(path=str(tmp_path / "phone.png"))


async def test_long_code_and_tables_stream_into_real_elements(browser: Any, tmp_path: Path) -> None:
    model = ("--model", "py:tests.support.models:long_blocks")
    with rivulet_process(*model, env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "long blocks")
        code = "() => [...document.querySelectorAll('.answer-body pre code')].map(c => c.innerText).join('')"
        states = await poll(page, code, lambda text: f"value_{LONG_CODE_LINES - 1} =" in text)
        assert len([s for s in states if s]) >= 3, "the open code fence did not grow in the browser"
        rows = "() => document.querySelectorAll('.answer-body table tbody tr').length"
        counts = await poll(page, rows, lambda n: n == LONG_TABLE_ROWS)
        assert len(counts) >= 3, "the open table did not grow in the browser"
        await poll(page, LAST_ANSWER, lambda text: text.rstrip().endswith("The end."))
        shown = await page.evaluate(code)
        assert shown.splitlines() == [f"value_{i} = {i}  # <i>line {i}</i>" for i in range(LONG_CODE_LINES)]
        cells = await page.evaluate(
            "() => [...document.querySelectorAll('.answer-body table tr')].map(r => r.children.length)"
        )
        assert cells == [3] * (LONG_TABLE_ROWS + 1)  # the header and every row, each with its 3 cells
        # The row groups are tables of their own: their columns line up all the same.
        edges = """() => new Set([...document.querySelectorAll('.answer-body .live-table tr')].map(
            r => [...r.children].map(c => Math.round(c.getBoundingClientRect().left)).join(','))).size"""
        assert await page.evaluate(edges) == 1
        # (textContent: a group out of view is not drawn, see ui.styles, and has no innerText until it is)
        assert await page.evaluate("() => document.querySelector('.answer-body tbody strong').textContent") == "row"
        skipped = "() => getComputedStyle(document.querySelector('.answer-body .live-table > div')).contentVisibility"
        assert await page.evaluate(skipped) == "auto"
        align = "() => getComputedStyle(document.querySelector('.answer-body tbody td')).textAlign"
        assert await page.evaluate(align) == "right"  # `---:` aligns by a class, not a style attribute
        assert await page.locator(".answer-body td[style], .answer-body th[style]").count() == 0
        assert await page.locator(".answer-body pre i, .answer-body td b").count() == 0  # the model's HTML is text
        await page.reload()
        await page.wait_for_selector(PROMPT)
        await poll(page, LAST_ANSWER, lambda text: text.rstrip().endswith("The end."))
        assert await page.evaluate(code) == shown
        assert await page.evaluate(rows) == LONG_TABLE_ROWS
        assert await page.evaluate(align) == "right"


#: What an answer's elements show: its text (without the white space between blocks, which the page's separate
#: elements do not have), and how many of each Markdown element (in the page or in a detached div).
SHAPE = """(root) => {
    const count = (tag) => root.querySelectorAll(tag).length;
    const ol = root.querySelector('ol');
    return {text: root.textContent.replace(/\\s+/g, ''), strong: count('strong'), em: count('em'),
            code: count('code'), a: count('a'), li: count('li'), p: count('p'), h2: count('h2'),
            ol: ol && ol.getAttribute('start')};
}"""


async def test_streamed_paragraphs_and_lists_show_what_the_whole_text_renders_to(browser: Any, tmp_path: Path) -> None:
    with rivulet_process(
        "--model", "py:tests.support.models:mixed_markdown", env={"RIVULET_DATA_DIR": str(tmp_path)}
    ) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "mixed")
        await page.get_by_role("button", name="Regenerate").wait_for()  # the answer has ended
        shown = await page.evaluate(f"() => ({SHAPE})([...document.querySelectorAll('.answer-body')].pop())")
        whole = await page.evaluate(
            f"(html) => {{ const d = document.createElement('div'); d.innerHTML = html; return ({SHAPE})(d); }}",
            render_markdown(MIXED_MARKDOWN),
        )
        assert shown == whole, (shown["text"], whole["text"])
        assert whole["strong"] > 5 and whole["li"] == 5 and whole["ol"] == "3"


async def test_a_fast_answer_ends_scrolled_to_the_bottom(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:chunks=3000,rate=0", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 900, "height": 600})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "fast")
        await poll(page, LAST_STATUS, lambda text: "3000 chunks" in text)
        below = (
            "() => { const c = document.querySelector('.q-scrollarea__container');"
            " return [c.scrollHeight - c.scrollTop - c.clientHeight, c.scrollHeight]; }"
        )
        seen = await poll(page, below, lambda value: value[0] < 40, limit=5)
        assert seen[-1][1] > 5000, "the answer is not long enough to test scrolling"
        assert not await page.get_by_role("button", name="Jump to the latest text").is_visible()


#: Fills the conversation past the view and scrolls to its end, then adds a paragraph per animation frame, in the
#: browser alone: the distance from the end after each.
GROW_IN_THE_BROWSER = """async () => {
  const area = document.querySelector('.q-scrollarea__container');
  const messages = document.querySelector('.messages');
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  const add = (text) => { const p = document.createElement('p'); p.textContent = text; messages.appendChild(p); };
  for (let i = 0; i < 60; i++) add('filler ' + i);
  await frame();
  area.scrollTop = area.scrollHeight;
  await frame();
  const gaps = [];
  for (let i = 0; i < 20; i++) {
    add('more ' + i);
    await frame();
    gaps.push(Math.round(area.scrollHeight - area.scrollTop - area.clientHeight));
  }
  return gaps;
}"""


async def test_the_browser_follows_growing_text_by_itself(browser: Any, tmp_path: Path) -> None:
    # Scroll anchoring (ui.autoscroll): the view stays at the end in the very frame the text grows, with no scroll
    # message from the server (that a reader who scrolled up stays put: test_autoscroll_pauses_when_the_user_...).
    with rivulet_process("--model", "fake:chunks=10", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 900, "height": 600})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        assert await page.evaluate(GROW_IN_THE_BROWSER) == [0] * 20


async def test_a_finished_code_block_shows_its_colours(browser: Any, tmp_path: Path) -> None:
    # The highlighting spans' classes are written without quotes (fewer bytes): the page's colours still apply.
    colours = """() => ['.codehilite .k', '.codehilite .mi', '.codehilite code'].map(
        selector => getComputedStyle(document.querySelector('.answer-body ' + selector)).color)"""
    with rivulet_process("--model", "py:tests.support.models:echo", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 900, "height": 600})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "```python\ndef f(x):\n    return x + 1\n```\n")
        await page.get_by_role("button", name="Copy code").wait_for()  # the fence closed: coloured
        keyword, number, code = await page.evaluate(colours)
        assert len({keyword, number, code}) == 3, (keyword, number, code)
