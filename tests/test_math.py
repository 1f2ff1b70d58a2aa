r"""Math in answers: `$…$` and `$$…$$` become MathML on the server; prices, code and the model's HTML stay text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import markdown2
import pytest

from llm.fake import FakeStreamingChatModel
from tests.support.browser import PROMPT, ask, poll
from tests.support.servers import rivulet_process
from ui import safe_markdown
from ui.safe_markdown import EXTRAS, math_html, render_fresh, render_markdown

MATH_ANSWER = (
    "Two formulas.\n\n$$\\int_0^1 x\\,dx$$\n\n"
    "And Euler's $e^{i\\pi}+1=0$ too, while prices like $5 and $10 stay text "
    "(and $\\style{position:fixed}{y}$ $\\href{javascript:window.__pwned=1}{z}$ get no attributes).\n\n"
    + " ".join(f"word{i}" for i in range(120))
    + "\n\nThe end."
)


def math_answer() -> FakeStreamingChatModel:
    """Display and inline math at a pace a browser can watch (`--model py:tests.test_math:math_answer`)."""
    return FakeStreamingChatModel(text=MATH_ANSWER, rate=60)


def tags(html: str) -> list[str]:
    return re.findall(r"<([a-z]+)", html)


def test_inline_math_becomes_mathml() -> None:
    html = render_markdown("Euler: $e^{i\\pi}+1=0$, and $x_1$ *too*.")
    assert html.count('<math display="inline">') == 2
    assert "<msup><mi>e</mi><mrow><mi>i</mi><mi>π</mi></mrow></msup>" in html
    assert "<em>too</em>" in html and "$" not in html


@pytest.mark.parametrize(
    "text",
    [
        "$$\\int_0^1 x\\,dx$$",
        "$$\n\\int_0^1 x\\,dx\n$$\n",
        "Before:\n$$\n\\int_0^1\n  x\\,dx\n$$\nafter.",
        "- item\n\n  $$\n  \\int_0^1 x\\,dx\n  $$\n",
        "Inline $$\\int_0^1 x\\,dx$$ in a sentence.",
    ],
)
def test_display_math_becomes_mathml(text: str) -> None:
    html = render_markdown(text)
    assert html.count('<math display="block">') == 1, html
    assert "<msubsup><mo>∫</mo><mn>0</mn><mn>1</mn></msubsup>" in html and "$$" not in html


def test_math_in_tables_and_lists_keeps_their_shape() -> None:
    html = render_markdown("| a | $|x|$ |\n|---|---|\n| $y^2$ | 2 |\n")
    assert html.count("<math") == 2 and html.count("<td") == 2  # `|` inside a formula splits no cell
    assert render_markdown("- $a$\n- $b$\n").count("<li><math") == 2


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10.",
        "From $5 to $10, or $3.50/$4.00, or $1,000-$2,000.",
        "Escaped \\$x\\$ stays.",
        "An amount: $ 5 $ and 5$.",
        "$$ opens\n\nbut a blank line comes first $$",
    ],
)
def test_prices_and_stray_dollars_stay_text(text: str) -> None:
    html = render_markdown(text)
    assert "<math" not in html
    assert html == markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")  # exactly as without math


@pytest.mark.parametrize(
    "text",
    [
        "`$x$` and ``$$y$$``",
        "```\n$$\n\\int x\n$$\n$a$\n```\n",
        "~~~\n$x$\n~~~\n",
        "Text\n\n    $x$ in an indented code block\n",
    ],
)
def test_math_in_code_stays_literal(text: str) -> None:
    html = render_markdown(text)
    assert "<math" not in html  # (markdown2 shows a `~~~` fence as a paragraph; its `$` stay text all the same)
    assert "$x$" in html or "$$y$$" in html or "$$\n\\int x\n$$" in html


def test_a_formula_in_a_link_address_stays_part_of_it() -> None:
    html = render_markdown("[see $x$](https://example.org/$y$) <https://example.org/$z$>")
    assert 'href="https://example.org/$y$"' in html and 'href="https://example.org/$z$"' in html
    assert html.count("<math") == 1  # the link's text


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script> $x$",
        '<math><mi onclick="alert(1)">x</mi></math> $y$',
        "$$<math><mi onclick=alert(1)>x</mi></math>$$",
        "$<script>alert(1)</script>$ and $</math><script>alert(2)</script>$",
        "$\\text{<img src=x onerror=alert(1)>}$ $\\text{<b>x</b>}$",
        '$\\href{javascript:alert(1)}{x}$ $\\href{"><script>alert(1)</script>}{x}$',
        '$\\style{position:fixed;top:0;left:0;width:100vw;height:100vh}{x}$ $\\color{red" onclick="alert(1)}{x}$',
        "$\\rule{1000em}{1000em}$ $\\hspace{9999em}$",
        "A token look-alike \ue0000\ue001 and $x$",
    ],
)
def test_hostile_input_stays_escaped(text: str) -> None:
    html = render_markdown(text)
    assert not {"script", "img", "b", "a", "svg", "iframe"} & set(tags(html)), html
    assert not re.search(r"<[^>]*\s(on\w+|style|href|class|id|mathbackground)=", html), html
    assert not re.search(r'(width|height)="\d{2,}', html), html
    for raw in re.findall(r"<(\w+)", html):
        assert raw in {"p", "code", "math"} or raw in safe_markdown._MATHML_TAGS, raw


def test_a_formula_latex2mathml_cannot_read_is_shown_as_written() -> None:
    assert math_html("x^", False) is None
    assert render_markdown("Broken $x^$ here.") == "<p>Broken $x^$ here.</p>\n"
    # A display block over several lines is still kept from markdown2 (the splitter did not read it as Markdown).
    html = render_markdown("$$\n- <b>x</b>\n\\begin{matrix}\n$$\n")
    assert "<ul>" not in html and "<b>" not in html and "- &lt;b&gt;x&lt;/b&gt;" in html


def test_text_without_a_dollar_takes_no_math_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(text: str) -> list[Any]:
        raise AssertionError("looked for math in text without a $")

    monkeypatch.setattr(safe_markdown, "find_math", fail)
    text = "# Title\n\nSome **bold** text, `code`, a | table |\n\n```\nx = 1\n```\n"
    assert render_fresh(text) == markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")


def test_the_caches_stay_bounded() -> None:
    assert math_html.cache_info().maxsize == 1024
    assert render_markdown.cache_info().maxsize == 512
    assert render_markdown("$" + "x" * (safe_markdown.MAX_FORMULA + 1) + "$").count("<math") == 0


async def test_math_streams_into_mathml_in_a_real_browser(browser: Any, tmp_path: Path) -> None:
    with rivulet_process("--model", "py:tests.test_math:math_answer", env={"RIVULET_DATA_DIR": str(tmp_path)}) as url:
        page = await browser.new_page(viewport={"width": 1000, "height": 700})
        await page.goto(url)
        await page.wait_for_selector(PROMPT)
        await ask(page, "math please")
        shown = (
            "() => { const a = [...document.querySelectorAll('.answer-body')].pop(); if (!a) return null;"
            " const m = [...a.querySelectorAll('math')];"
            " return {text: a.innerText, maths: m.length,"
            " mathml: m.every(e => e.namespaceURI === 'http://www.w3.org/1998/Math/MathML'),"
            " blocks: a.querySelectorAll('math[display=block]').length,"
            " height: m.length ? m[0].getBoundingClientRect().height : 0}; }"
        )
        states = await poll(page, shown, lambda s: bool(s) and s["maths"] >= 1)
        assert not states[-1]["text"].rstrip().endswith("The end."), "math only appeared once the answer was over"
        final = (await poll(page, shown, lambda s: s["text"].rstrip().endswith("The end.")))[-1]
        assert final["maths"] == 4 and final["blocks"] == 1 and final["mathml"]  # DOMPurify kept the MathML
        assert final["height"] > 10  # Chromium lays the display formula out
        assert "$$" not in final["text"] and "$e^" not in final["text"] and "\\int" not in final["text"]
        assert "prices like $5 and $10 stay text" in final["text"]
        unsafe = ".answer-body math [style], .answer-body math [href], .answer-body math [onclick]"
        assert await page.locator(unsafe).count() == 0
        assert await page.evaluate("() => window.__pwned") is None
        await page.screenshot(path=str(tmp_path / "math.png"))
