"""The prompt and the answer controls in a real browser (Debian's headless Chromium via Playwright) against `main.py`.

These check what only a browser shows: the textarea's state on the client, its height, and the layout at
phone width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.browser import LAST_STATUS, PROMPT, ask, poll
from tests.support.servers import free_port, rivulet_process

PROMPT_VALUE = f"() => document.querySelector('{PROMPT}').value"
USER_MESSAGES = "() => document.querySelectorAll('.user-message').length"
CONNECT_ERRORS = (
    "() => [...document.querySelectorAll('.answer-error')]"
    ".filter(e => e.offsetParent !== null && e.innerText.includes('Could not connect')).length"
)


async def test_prompt_returned_after_a_failure_can_be_sent_again(browser: Any, tmp_path: Path) -> None:
    nothing_listens = free_port()
    args = ("--model", "openai:x", "--base-url", f"http://127.0.0.1:{nothing_listens}/v1")
    with rivulet_process(*args, env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "Is anybody there?")
        await poll(page, CONNECT_ERRORS, lambda count: count == 1)
        await poll(page, PROMPT_VALUE, lambda value: value == "Is anybody there?")  # the prompt came back
        assert await page.evaluate(USER_MESSAGES) == 1
        await page.press(PROMPT, "Enter")
        await poll(page, USER_MESSAGES, lambda count: count == 2, limit=10)
        await poll(page, CONNECT_ERRORS, lambda count: count == 2)
        assert await page.locator(".user-message").all_inner_texts() == ["Is anybody there?"] * 2


#: Heights (px) of the textarea and the conversation's scroll area, and where the limit notice sits.
LAYOUT = f"""() => {{
    const textarea = document.querySelector('{PROMPT}');
    const area = document.querySelector('.messages').closest('.q-scrollarea');
    const notice = [...document.querySelectorAll('.prompt .q-field__messages')]
        .find(e => e.innerText.includes('limit'));
    const box = notice ? notice.getBoundingClientRect() : null;
    return {{
        length: textarea.value.length,
        textarea: textarea.getBoundingClientRect().height,
        scrolls_inside: textarea.scrollHeight > textarea.clientHeight
            && ['auto', 'scroll'].includes(getComputedStyle(textarea).overflowY),
        conversation: area.getBoundingClientRect().height,
        notice: box && {{top: box.top, bottom: box.bottom, height: box.height}},
        viewport: window.innerHeight,
    }};
}}"""


def _usable(layout: dict[str, Any]) -> bool:
    viewport = layout["viewport"]
    notice = layout["notice"]
    return (
        layout["textarea"] <= 0.4 * viewport + 2  # ~40 % (+ rounding): it scrolls inside, it does not grow on
        and layout["scrolls_inside"]
        and layout["conversation"] >= 0.3 * viewport
        and notice is not None
        and notice["height"] > 0
        and notice["top"] >= 0
        and notice["bottom"] <= viewport
    )


async def test_a_huge_paste_keeps_the_page_usable(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:chunks=30,rate=0", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        text = ("A long pasted document, line after line of it. " * 3000)[:120_000]
        await page.fill(PROMPT, text)
        await poll(page, LAYOUT, lambda layout: layout["length"] == 100_000 and layout["notice"] is not None)
        await poll(page, LAYOUT, _usable, limit=5)


#: At phone width: how visible the prompt's edit/delete buttons are, and the tops of the answer's buttons.
PHONE_CONTROLS = """() => {
    const actions = document.querySelector('.user-actions');
    const buttons = [...document.querySelectorAll('.answer-actions .q-btn')];
    return {
        user_actions_opacity: actions ? Number(getComputedStyle(actions).opacity) : null,
        answer_button_tops: buttons.map(b => Math.round(b.getBoundingClientRect().top)),
        overflows: document.documentElement.scrollWidth > window.innerWidth,
    };
}"""


async def test_phone_width_prompt_buttons_visible_answer_buttons_on_one_row(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "fake:chunks=30,rate=0", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "What is a river delta?")
        await poll(page, LAST_STATUS, lambda text: "30 chunks" in text)
        await poll(page, "() => document.querySelectorAll('.answer-actions .q-btn').length", lambda n: n >= 3)
        await page.mouse.move(5, 5)  # nothing is hovered (a phone has no hover)
        await poll(
            page,
            PHONE_CONTROLS,
            lambda c: c["user_actions_opacity"] == 1 and len(set(c["answer_button_tops"])) == 1 and not c["overflows"],
            limit=5,
        )
