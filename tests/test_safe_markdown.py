"""Model Markdown rendered for the page: what the server prepares before the first answer."""

from __future__ import annotations

from tests.support.servers import fresh_python


def test_warm_up_compiles_the_common_highlighters_before_any_answer() -> None:
    # In a fresh interpreter: Pygments compiles a language's rules at its first use (about 80 ms for Python).
    code = (
        "from pygments.lexers.python import PythonLexer\n"
        "from pygments.lexers.javascript import JavascriptLexer\n"
        "from ui.safe_markdown import render_markdown, warm_up\n"
        "assert '_tokens' not in PythonLexer.__dict__\n"
        "warm_up()\n"
        "print(all('_tokens' in lexer.__dict__ for lexer in (PythonLexer, JavascriptLexer)))\n"
        "print('class=\"k\">def</span>' in render_markdown('```python\\ndef f(): pass\\n```\\n'))\n"
    )
    assert fresh_python(code).split() == ["True", "True"]
