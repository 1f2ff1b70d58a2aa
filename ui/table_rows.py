"""The HTML of a streamed Markdown table's rows, as `ui.safe_markdown.render_fresh` writes them, mostly without
markdown2.

markdown2 runs its whole span pass over every cell: about 0.25 ms per row of 5 cells, which was half the server's
CPU for a 1,000-row table. Most cells of a table are plain text, a number, `**bold**` or a `code span`, whose HTML
is known, so such rows are written here; a row with anything else (a link, emphasis inside text, a formula, an
escape, an entity) goes to markdown2, all such rows of a call in one run. The tests compare both ways on random
rows. A group of rows is shown by a `RowGroup` when its HTML is only table tags and plain markup.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape

from ui.safe_markdown import CheckedHtml, plain_markup, render_fresh

#: Cell text markdown2 writes as it is: no emphasis, code, link, escape, entity, tag or formula can start in it.
_PLAIN = r"[^$&*<>\\_`\[\]|]*"
#: A cell as it is, bold as a whole (no space inside its stars), or a code span as a whole (markdown2 escapes
#: its `&`, `<` and `>`).
_EDGE = r"[^\s$&*<>\\_`\[\]|]"
_CELL = re.compile(rf"(?P<plain>{_PLAIN})|\*\*(?P<bold>{_EDGE}(?:{_PLAIN}{_EDGE})?)\*\*|`(?P<code>[^`|]+)`")
#: A row markdown2 reads as a row of the table above it: a bar after at most 3 spaces.
_ROW_START = re.compile(r" {0,3}\|")
#: The tags of a table's rows and header as `render_fresh` writes them (end tags left out, aligned cells by class).
_TABLE_TAGS = re.compile(r"</?(?:table|thead|tbody)>|<t[rdh]>|<t[dh] class=a[lcr]>")
#: markdown2's start and end of a table body (`render_fresh`: no end tags, no line breaks between rows).
BODY_START, BODY_END = "<table>\n<tbody>\n", "</tbody>\n</table>\n"


@lru_cache(maxsize=64)
def column_aligns(head: str) -> tuple[str, ...]:
    """The cell tag's attribute for each column of a table whose header and delimiter row (`|:--|--:|`) are `head`:
    ' class=al', '' ... (a streamed table asks at every update)."""
    cells = head.splitlines()[1].strip().removeprefix("|").removesuffix("|").split("|")
    aligns = []
    for cell in (cell.strip() for cell in cells):
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append(" class=ac" if left and right else " class=al" if left else " class=ar" if right else "")
    return tuple(aligns)


def row_html(row: str, aligns: tuple[str, ...]) -> str | None:
    """The `<tr>` of a table row that starts with a bar and whose cells are all plain, bold or code (None else)."""
    line = row.strip()
    if not _ROW_START.match(row) or "`|" in line or "\\" in line:
        return None  # markdown2 splits those cells its own way
    cells = line[1:].removesuffix("|").split("|")
    html = ["<tr>"]
    for column, cell in enumerate(cells):
        match = _CELL.fullmatch(cell.strip())
        if match is None:
            return None
        attribute = aligns[column] if column < len(aligns) else ""
        if match["plain"] is not None:
            html.append(f"<td{attribute}>{match['plain']}")
        elif match["bold"] is not None:
            html.append(f"<td{attribute}><strong>{match['bold']}</strong>")
        else:
            html.append(f"<td{attribute}><code>{escape(match['code'].strip(), quote=False)}</code>")
    return "".join(html)


def rows_html(head: str, rows: list[str]) -> list[str] | None:
    """The `<tr>` of each of `rows` (lines of the table whose header and delimiter row are `head`), or None when
    markdown2 does not read them all as rows of that table (the caller then renders the text whole)."""
    aligns = column_aligns(head)
    html = [row_html(row, aligns) for row in rows]
    others = [row for row, row_tr in zip(rows, html, strict=True) if row_tr is None]
    if not others:
        return html  # type: ignore[return-value]
    rendered = render_fresh(head + "".join(others))
    if not (rendered.startswith("<table>\n<thead>") and rendered.endswith(BODY_END)):
        return None
    parts = rendered[rendered.find("<tbody>\n") + len("<tbody>\n") : -len(BODY_END)].split("<tr>")
    if parts[0] or len(parts) != len(others) + 1:
        return None
    found = iter("<tr>" + part for part in parts[1:])
    return [row_tr if row_tr is not None else next(found) for row_tr in html]


def table_body(rows: list[str]) -> str:
    """A table of the `<tr>` elements `rows`, as `render_fresh` writes it without its header."""
    return BODY_START + "".join(rows) + BODY_END


def table_markup(html: str) -> bool:
    """Whether `html` holds only a table's own tags (no attribute but an alignment class) and plain markup."""
    return plain_markup(_TABLE_TAGS.sub("", html))


class RowGroup(CheckedHtml):
    """A group of a table's rows (or its header) whose HTML is `table_markup`, as the group's own `<div>`. Rows with
    a link or other markup go to `ui.html(sanitize=True)` (see `ui.live_blocks.TableView.show_group`)."""

    kind = "table markup"

    def __init__(self, html: str) -> None:
        super().__init__(html, tag="div")

    @classmethod
    def allows(cls, html: str, tag: str) -> bool:
        return table_markup(html)
