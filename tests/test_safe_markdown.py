"""Model Markdown rendered for the page: what the server prepares before the first answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
