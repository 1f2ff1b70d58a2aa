"""Model Markdown rendered for the page: what the server prepares before the first answer."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.support.servers import fresh_python
from ui.safe_markdown import PlainBlock, markdown_element, render_markdown


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
    ("markdown", "light"),
    [
        ("## Part 4\n\n", True),
        ("A paragraph with **bold**, *emphasis* and `code <b>` & more.\n", True),
        ("Setext heading\n===\n", True),
        ("A [link](https://example.org) needs sanitizing.\n", False),
        ("<img src=x onerror=alert(1)> shown as text\n", True),
        ("- a list\n- of **items**\n", True),
        ("3. an ordered list\n4. that starts at 3\n", False),
        ("- a list\n  - with a nested one\n", False),
        ("- a loose list\n\n- of paragraphs\n", False),
        ("- a [link](https://example.org)\n", False),
        ("One paragraph.\n\nTwo paragraphs.\n", False),
        ("> a quote\n", False),
        ("Math $x^2$ here.\n", False),
        ("\n", False),
    ],
)
async def test_a_finished_paragraph_or_heading_of_plain_text_is_its_own_element(
    user: User, markdown: str, light: bool
) -> None:
    ui.page("/")(lambda: None)
    await user.open("/")
    assert user.client is not None
    with user.client.content:
        element = markdown_element(markdown)
    assert isinstance(element, PlainBlock) is light
    shown = element.html if isinstance(element, PlainBlock) else element.content
    assert shown == (render_markdown(markdown) if markdown.strip() else "")
    assert element.markdown == markdown
    if isinstance(element, PlainBlock):  # no wrapper, no sanitizing flag: the tag itself with its HTML
        assert element.tag in {"p", "h1", "h2", "ul"} and element.props == {"innerHTML": element.content}
