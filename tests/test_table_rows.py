"""A table's rows written without markdown2 are exactly what markdown2 writes; the others are left to it."""

from __future__ import annotations

import random

import pytest

from ui.safe_markdown import render_fresh
from ui.table_rows import RowGroup, column_aligns, row_html, rows_html, table_body, table_markup

HEADS = ["| a | b | c |\n|---|:-:|--:|\n", "| a | b |\n|:--|---|\n", "a | b\n--|--\n"]
#: Letters, digits and punctuation with no meaning in a cell, then the characters and markup that have one.
TEXT = list("abc XYZ 019.,:;-+=/()'\"!?#%@^{}~é漢")
MARKUP = ["**", "*", "_", "`", "$", "&", "<", ">", "\\", "[", "]", "](", "|", "  ", "&amp;", "<b>", "http://x.y"]


def markdown2_rows(head: str, rows: str) -> str:
    """markdown2's HTML of `rows` under `head`, without the header (as the page shows a group of rows)."""
    html = render_fresh(head + rows)
    return html.replace(html[html.index("<thead>") : html.index("</thead>\n") + len("</thead>\n")], "")


def random_row(rnd: random.Random) -> str:
    def cell() -> str:
        alphabet = TEXT if rnd.random() < 0.6 else TEXT + MARKUP
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6)))
        return rnd.choice([text, text, text, f"**{text}**", f"`{text}`"])

    row = "|".join(rnd.choice([f" {cell()} ", cell()]) for _ in range(rnd.randint(1, 4)))
    return " " * rnd.choice([0, 0, 0, 1, 3, 4]) + rnd.choice(["|", "|", ""]) + row + rnd.choice(["|", ""]) + "\n"


def test_rows_of_plain_bold_and_code_cells_are_written_as_markdown2_writes_them() -> None:
    rnd = random.Random(13)
    written = 0
    for _ in range(4000):
        head, row = rnd.choice(HEADS), random_row(rnd)
        html = row_html(row, column_aligns(head))
        if html is not None:
            written += 1
            assert table_body([html]) == markdown2_rows(head, row), row
    assert 800 < written < 3200  # both kinds of row came up often


@pytest.mark.parametrize(
    "row",
    [
        "| [a](https://example.org) |\n",  # a link
        "| *em* |\n",  # emphasis, not bold
        "| **a** and *b* |\n",
        "| snake_case |\n",
        "| R&D |\n",  # markdown2 writes the entity
        "| a < b |\n",
        "| $x^2$ |\n",  # a formula
        "| `a|b` |\n",  # markdown2 does not split a cell at a bar right after a backtick
        "| x \\| y |\n",  # an escaped bar
        "    | 4 spaces |\n",  # no longer the table's row: an indented code block
        "a | no leading bar |\n",
    ],
)
def test_rows_with_other_markup_are_left_to_markdown2(row: str) -> None:
    assert row_html(row, ("", "")) is None


def test_a_group_of_mixed_rows_renders_like_markdown2_renders_it_whole() -> None:
    head = "| n | name | note |\n|--:|:--|:-:|\n"
    cells = ["river", "12.5", "**bold**", "`g_1()`", "*em*", "[link](javascript:alert(1))", "R&D", "a < b", "$x^2$",
             "`a|b`", "x \\| y", "snake_case", "", "C++", "e.g. this", "**a** and *b*", "<https://a.b>"]  # fmt: skip
    rnd = random.Random(5)
    for _ in range(300):
        rows = [f"| {' | '.join(rnd.choice(cells) for _ in range(rnd.randint(1, 4)))} |\n" for _ in range(16)]
        html = rows_html(head, rows)
        assert html is not None and len(html) == len(rows)
        assert table_body(html) == markdown2_rows(head, "".join(rows))


def test_rows_markdown2_does_not_read_as_rows_of_the_table_are_none() -> None:
    # The caller renders such text whole, as markdown2 sees it (here: a table, then a code block).
    assert rows_html("| a |\n|---|\n", ["| 1 |\n", "    | 2 |\n"]) is None


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<table>\n<thead>\n<tr><th>a<th class=ar>b</thead>\n</table>\n", True),
        ("<table>\n<tbody>\n<tr><td class=ac><strong>a</strong><td><code>&lt;b&gt;</code></tbody>\n</table>\n", True),
        ('<table>\n<tbody>\n<tr><td><a href="#">a</a></tbody>\n</table>\n', False),
        ('<table>\n<tbody>\n<tr><td style="position:fixed">a</tbody>\n</table>\n', False),
        ("<table>\n<tbody>\n<tr><td><img src=x onerror=alert(1)></tbody>\n</table>\n", False),
    ],
)
def test_only_a_table_s_own_tags_and_plain_markup_skip_the_browser_s_sanitizing(html: str, plain: bool) -> None:
    assert table_markup(html) is plain
    if not plain:
        with pytest.raises(ValueError, match="not table markup"):
            RowGroup(html)
