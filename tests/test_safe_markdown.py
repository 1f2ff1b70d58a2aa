"""Model Markdown rendered for the page: what the server prepares before the first answer."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.support.servers import fresh_python
from ui.safe_markdown import MarkdownText, PlainBlock, PlainBlocks, markdown_element, render_markdown


def test_warm_up_compiles_the_common_highlighters_before_any_answer() -> None:
    # In a fresh interpreter: Pygments compiles a language's rules at its first use (about 80 ms for Python).
    code = (
        "from pygments.lexers.python import PythonLexer\n"
        "from pygments.lexers.javascript import JavascriptLexer\n"
        "from ui.safe_markdown import render_markdown, warm_up\n"
        "assert '_tokens' not in PythonLexer.__dict__\n"
        "warm_up()\n"
        "print(all('_tokens' in lexer.__dict__ for lexer in (PythonLexer, JavascriptLexer)))\n"
        "print('class=k>def</span>' in render_markdown('```python\\ndef f(): pass\\n```\\n'))\n"
    )
    assert fresh_python(code).split() == ["True", "True"]


@pytest.mark.parametrize(
    ("markdown", "kind"),
    [
        ("## Part 4\n\n", PlainBlock),
        ("A paragraph with **bold**, *emphasis* and `code <b>` & more.\n", PlainBlock),
        ("Setext heading\n===\n", PlainBlock),
        ("A [link](https://example.org) needs sanitizing.\n", MarkdownText),
        ("<img src=x onerror=alert(1)> shown as text\n", PlainBlock),
        ("- a list\n- of **items**\n", PlainBlock),
        ("3. an ordered list\n4. that starts at 3\n", MarkdownText),
        ("- a list\n  - with a nested one\n", PlainBlocks),
        ("- a loose list\n\n- of paragraphs\n", PlainBlocks),
        ("- a [link](https://example.org)\n", MarkdownText),
        ("One paragraph.\n\nTwo paragraphs.\n", PlainBlocks),
        ("## Part 5\n\nText with **bold**.\n\n- and\n- a list\n\n---\n\n", PlainBlocks),
        ("> a quote\n", PlainBlocks),
        ("One paragraph.\n\n![image](https://example.org/x.png)\n", MarkdownText),
        ("Math $x^2$ here.\n", MarkdownText),
        ("\n", MarkdownText),
    ],
)
async def test_finished_blocks_of_plain_text_are_shown_without_the_browser_s_sanitizing(
    user: User, markdown: str, kind: type
) -> None:
    ui.page("/")(lambda: None)
    await user.open("/")
    assert user.client is not None
    with user.client.content:
        element = markdown_element(markdown)
    assert type(element) is kind
    shown = element.html if isinstance(element, PlainBlock) else element.content
    assert shown == (render_markdown(markdown) if markdown.strip() else "")
    assert element.markdown == markdown
    if isinstance(element, PlainBlocks):  # no sanitizing flag, no component: a <div> with the HTML
        assert element.tag == "div" and element.props == {"innerHTML": element.content}
    if isinstance(element, PlainBlock):  # no wrapper, no sanitizing flag: the tag itself with its HTML
        assert element.tag in {"p", "h1", "h2", "ul"} and element.props == {"innerHTML": element.content}
