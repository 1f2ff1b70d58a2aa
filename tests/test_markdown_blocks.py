"""Streaming Markdown split into frozen blocks renders exactly like the whole text at once."""

from __future__ import annotations

import random

import pytest

from llm.fake import DEMO_TEXT, split_words
from ui.markdown_blocks import BlockSplitter, open_fence, open_table, split_finished
from ui.safe_markdown import render_markdown

RICH = """\
# Title

Intro paragraph with **bold** and a [link](https://example.org).

- item one
- item two
  - nested item

- loose item after a blank line
- another

1. first
2. second

| a | b |
|---|---|
| 1 | 2 |

```python
def f():

    return 1


x = f()
```

~~~
tilde fence with ``` inside

still code
~~~

    indented code

    more indented code

> quote
continued

Final paragraph.
"""


#: Fences without a blank line around them: a block of their own, except where a quote or a list holds them.
FENCES = """\
Text right before a fence:
```python
def f():
    return 1
```
Text right after it.

> quote
```
inside the quote
```

1. item
```
inside the item
```

| a | b |
|---|---|
| 1 | 2 |
```
after a table
```
````
four backticks
```
still code
````
End.
"""


def render(text: str) -> str:
    return render_markdown(text)


def joined(blocks: list[str]) -> str:
    """The page's rendering: each block on its own, separated like markdown2 separates blocks."""
    return "\n\n".join(render(block).strip() for block in blocks if block.strip())


def stream_blocks(text: str, cuts: list[int]) -> list[str]:
    """Feed `text` cut at `cuts`, taking finished blocks after every piece, like the page does."""
    splitter = BlockSplitter()
    blocks: list[str] = []
    start = 0
    for cut in [*cuts, len(text)]:
        splitter.feed(text[start:cut])
        start = cut
        if finished := splitter.take_finished():
            blocks.append(finished)
    blocks.append(splitter.tail)
    return blocks


@pytest.mark.parametrize("text", [RICH, FENCES, DEMO_TEXT * 3])
def test_word_streaming_renders_like_the_whole_text(text: str) -> None:
    pieces = split_words(text)
    cuts, pos = [], 0
    for piece in pieces[:-1]:
        pos += len(piece)
        cuts.append(pos)
    blocks = stream_blocks(text, cuts)
    assert "".join(blocks) == text
    assert len(blocks) > 5, "finished blocks must be frozen while streaming"
    assert joined(blocks) == render(text).strip()


@pytest.mark.parametrize("text", [RICH, FENCES])
def test_random_cuts_render_like_the_whole_text(text: str) -> None:
    rng = random.Random(1234)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 40)))
        blocks = stream_blocks(text, cuts)
        assert "".join(blocks) == text
        assert joined(blocks) == render(text).strip()


def test_a_fence_at_column_zero_is_a_block_from_its_first_line_to_its_last() -> None:
    assert split_finished("Text:\n```py\ncode") == (len("Text:\n"), False)
    assert split_finished("Text:\n```py") == (0, False)  # not a fence until its line is complete
    assert split_finished("```py\ncode\n```\nAfter") == (len("```py\ncode\n```\n"), False)
    assert split_finished("```py\ncode\n```") == (0, False)
    assert split_finished("> quote\n```\ncode\n```\n")[0] == 0
    assert split_finished("- item\n```\ncode\n```\n")[0] == 0


def test_open_fence_and_open_table_read_the_tail() -> None:
    assert open_fence("```python\nx = 1\ny") == ("```python\n", "x = 1\ny")
    assert open_fence("```python") is None and open_fence("text\n```\n") is None
    assert open_table("| a | b |\n|:--|--:|\n| 1 |") == ("| a | b |\n|:--|--:|\n", "| 1 |")
    assert open_table("| a | b |\n|:--|") is None and open_table("a b\n---\n") is None


def test_open_fence_stays_in_the_tail_for_many_chunks() -> None:
    splitter = BlockSplitter()
    splitter.feed("Intro.\n\n```\ncode line\n\n")
    for index in range(50):
        splitter.feed(f"line {index}\n\n")
        taken = splitter.take_finished()
        assert "```" not in taken
    assert splitter.tail.startswith("```")
    splitter.feed("```\n\nAfter.")
    assert splitter.take_finished().startswith("```")
    assert splitter.tail == "After."


def test_list_items_are_not_split_apart() -> None:
    assert split_finished("- a\n\n- b\n\nText\n")[0] == len("- a\n\n- b\n\n")
    assert split_finished("- a\n\n- b")[0] == 0


def test_reference_links_disable_splitting() -> None:
    splitter = BlockSplitter()
    splitter.feed("See [docs][1].\n\nMore text.\n\n[1]: https://example.org\n\nEnd\n\n")
    assert splitter.take_finished() == ""
    assert splitter.tail.startswith("See")


def test_model_html_is_shown_as_text() -> None:
    html = render_markdown(
        '<div style="position:fixed">x</div>\n\n[a](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n'
        "<script>alert(1)</script>\n\n```html\n<b>code</b>\n```\n"
    )
    assert "<div style" not in html and "<img" not in html and "<script" not in html
    assert "&lt;div style" in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert "&lt;b&gt;code&lt;/b&gt;" in html or "&lt;<span class=nt>b</span>&gt;code" in html


def test_tables_render_compact_and_align_by_class() -> None:
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | x <b>y</b> |\n")
    assert 'style="' not in html
    assert "<th class=al>a<th class=ar>b</thead>" in html  # end tags the HTML parser adds itself are left out
    assert "<tr><td class=al>1<td class=ar>x &lt;b&gt;y&lt;/b&gt;</tbody>" in html
    code = render_markdown("```python\nx = 1  # <tr>\n   y = 2\n```\n")
    assert "\n   " in code  # whitespace inside code is left alone


#: Math of every shape next to the blocks it must not be split from (see `display_math_opens`).
MATH = """\
# Math

Euler's identity $e^{i\\pi}+1=0$, and prices: it costs $5 and $10, or $3.50/$4.00.

$$
\\int_0^1 x\\,dx = \\frac{1}{2}
$$

Text right before display math:
$$
- x
```
[r]: y
$$
right after it.

$$\\sum_{n=1}^\\infty \\frac{1}{n^2} = \\frac{\\pi^2}{6}$$

$$ a stray opener

- and a list after the blank line that made it text $$

- item with $x^2$
- item with

  $$
  y = mx + b
  $$

`$code$` and

```
$$ in code
$x$
```

Unreadable, so shown as written:
$$
- x\\begin{matrix}
```
$$
and on.

| a | $b$ |
|---|---|
| $|x|$ | 2 |

$$
\\begin{pmatrix}
1 & 2 \\\\
3 & 4
\\end{pmatrix}
$$
End with $\\alpha$.
"""


def test_math_renders_like_the_whole_text_cut_anywhere() -> None:
    whole = render(MATH).strip()
    assert whole.count("<math") == 10 and "$$ a stray opener" in whole
    assert "$$\n- x\\begin{matrix}\n```\n$$" in whole and whole.count("<pre>") == 1
    for cut in range(1, len(MATH)):
        blocks = stream_blocks(MATH, [cut])
        assert joined(blocks) == whole, cut
    blocks = stream_blocks(MATH, list(range(1, len(MATH))))  # a flush after every character
    assert "".join(blocks) == MATH and len(blocks) > 10
    assert joined(blocks) == whole


@pytest.mark.parametrize("text", [MATH])
def test_math_streamed_in_words_or_random_cuts_renders_like_the_whole_text(text: str) -> None:
    pieces = split_words(text)
    cuts = [sum(len(p) for p in pieces[: i + 1]) for i in range(len(pieces) - 1)]
    assert joined(stream_blocks(text, cuts)) == render(text).strip()
    rng = random.Random(99)
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 40)))
        assert joined(stream_blocks(text, cuts)) == render(text).strip()


def test_open_display_math_keeps_the_tail_open_until_it_closes() -> None:
    splitter = BlockSplitter()
    splitter.feed("Intro.\n\n$$\n\\int_0^1\n")
    assert splitter.take_finished() == "Intro.\n\n"
    for line in ("x\\,dx\n", "```\n", "- y\n", "[r]: z\n"):  # no Markdown inside a formula
        splitter.feed(line)
        assert splitter.take_finished() == ""
    assert splitter.tail.startswith("$$")
    splitter.feed("$$\n\nAfter.")
    assert splitter.take_finished().startswith("$$\n\\int_0^1")
    assert splitter.tail == "After."


def test_a_blank_line_ends_display_math_that_never_was() -> None:
    # LaTeX has no blank line in display math: the `$$` was text, and its lines are Markdown again.
    assert split_finished("$$ stray\n- a\n\nText") == (len("$$ stray\n- a\n\n"), False)
    assert split_finished("$$ stray\n[r]: x\n\nText") == (0, True)
    assert split_finished("$$\nx\n$$\n\nText") == (len("$$\nx\n$$\n\n"), False)
    assert split_finished("$$x$$\n\nText")[0] == len("$$x$$\n\n")  # closed on its own line
