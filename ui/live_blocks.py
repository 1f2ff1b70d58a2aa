"""The open end of a streaming answer, shown append-only where its shape allows it.

An open code fence is shown as plain lines, added in small groups that are never sent again;
an open table as row groups that join one grid of columns. So a 4,000-line file or a
1,000-row table costs O(answer) bytes and CPU, not O(answer²). An open paragraph or tight
list grows by pieces too (`ui.live_text`). Any other open block (a heading, a quote, a loose or
nested list) is re-rendered whole, less often the larger it is (see `ui.answer_view`).
"""

from __future__ import annotations

import re

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from ui.live_text import LiveList, LiveParagraph, LivePieces, group_for, list_html, opens_list, opens_paragraph
from ui.markdown_blocks import fenced_segments, open_fence, open_table
from ui.safe_markdown import CheckedHtml, MarkdownText, render_fresh, render_markdown
from ui.table_rows import RowGroup, column_aligns, row_html, rows_html, table_body, table_markup

#: Finished code blocks up to this many lines get syntax colours; longer ones stay plain, because
#: the coloured HTML is about 3× the code and would have to be sent again once the fence closes.
HIGHLIGHT_MAX_LINES = 200
#: A letter or digit: an open block without one is not shown yet.
_WORD = re.compile(r"[^\W_]")
#: Rows per row group of a streamed table: the last group takes more rows (and is sent again) up to this many.
ROWS_PER_GROUP = 16
#: Characters of a cell that count for its column's width: a long cell wraps rather than widen its column.
CELL_CHARS = 30
#: Characters a streamed table's column is wide at least (a word or two), when its cells are that long.
MIN_COLUMN_CHARS = 12
#: Columns a streamed table's widths are set for (`ui.styles` has a rule for each).
MAX_SIZED_COLUMNS = 12


def coloured(lines: int) -> bool:
    """Whether a finished code block of `lines` lines is shown with syntax colours."""
    return lines <= HIGHLIGHT_MAX_LINES


def copy_button(code: str) -> None:
    def copy() -> None:
        ui.clipboard.write(code)
        ui.notify("Code copied to the clipboard.", type="positive")

    ui.button(icon="content_copy", on_click=copy).props('flat round dense size=sm aria-label="Copy code"').classes(
        "absolute top-1 right-1 code-copy"
    )


#: markdown2's rendering of a fenced block: `<code>` in `<pre>`, in Pygments' `codehilite` div when coloured.
_FENCE_HTML = re.compile(r'(?:<div class="codehilite">\n)?<pre>(<code>.*</code>)</pre>\n(?:</div>\n)?', re.S)
#: The tags such code holds: Pygments' spans (their class written without quotes, see `ui.safe_markdown`).
_CODE_TAGS = re.compile(r"<span class=\w+>|</span>|</?code>")


class HighlightedCode(CheckedHtml):
    """A finished code fence with syntax colours: a `<pre>` holding markdown2's `<code>` with Pygments' spans, whose
    colours come from `ui.styles` under the block's `codehilite` class. Its HTML has no other tag (the code itself
    is escaped text), so it needs no wrapper element either."""

    kind = "highlighted code"

    def __init__(self, fenced: str, html: str) -> None:
        super().__init__(html, tag="pre")
        self.markdown = fenced

    @classmethod
    def allows(cls, html: str, tag: str) -> bool:
        return "<" not in _CODE_TAGS.sub("", html)

    @property
    def html(self) -> str:
        """What the element shows with its block, as markdown2 writes it."""
        return render_markdown(self.markdown)


def highlighted_code(fenced: str) -> ui.element:
    """The element of a finished, coloured code fence: `HighlightedCode`, or its sanitized rendering when markdown2
    wrote something else (a fence that is no code block after all)."""
    if match := _FENCE_HTML.fullmatch(render_markdown(fenced)):
        try:
            return HighlightedCode(fenced, match.group(1))
        except ValueError:
            pass  # another tag in it: sanitized in the browser
    return MarkdownText(fenced)


class CodeView(ui.element):
    """A code fence shown as plain text: `<pre><code>` holding the lines in groups and the open line."""

    def __init__(self, opener: str) -> None:
        super().__init__("div")
        self.classes("relative code-block")
        self.opener = opener
        self.fence = opener[: len(opener) - len(opener.lstrip("`"))]
        self.closed = False
        with self, ui.element("pre"), ui.element("code"):
            self.lines = ui.element("span")
            self.open_line = TextElement(tag="span", text="")

    def source(self) -> str:
        """The Markdown this element shows."""
        code = "".join(e.text for e in self.lines.descendants() if isinstance(e, TextElement)) + self.open_line.text
        return self.opener + code + (self.fence + "\n" if self.closed else "")


def code_block(fenced: str, code: str) -> None:
    """A finished code fence with a copy button: coloured when short, plain text when long."""
    if coloured(code.count("\n") + 1):
        with ui.element("div").classes("relative code-block codehilite"):
            highlighted_code(fenced)
            copy_button(code)
        return
    with CodeView(fenced.partition("\n")[0] + "\n") as view:
        with view.lines:
            TextElement(tag="span", text=code + "\n")
        view.closed = True
        copy_button(code)


class LiveCode:
    """An open code fence: its complete lines in frozen groups, the line being written below them."""

    def __init__(self, opener: str) -> None:
        self.root = CodeView(opener)
        self._shown = 0  # characters of the code shown as complete lines
        self._group: ui.element | None = None

    def show(self, code: str) -> bool:
        end = code.rfind("\n") + 1
        if end > self._shown:
            self._group = group_for(self.root.lines, self._group)
            with self._group:
                TextElement(tag="span", text=code[self._shown : end])
            self._shown = end
        if self.root.open_line.text != code[end:]:
            self.root.open_line.set_text(code[end:])
        return True

    def finish(self, finished: str) -> tuple[ui.element | None, str]:
        """The fence closed: the element that shows it from now on (None: render it anew) and the text after it."""
        lines = finished.splitlines(keepends=True)
        close = next((i for i in range(1, len(lines)) if lines[i].rstrip(" \t\n") == self.root.fence), None)
        if close is None or coloured(close - 1):
            return None, finished  # short blocks get their colours; an odd fence is rendered as markdown2 sees it
        code = "".join(lines[1:close])
        self.show(code)
        self.root.closed = True
        with self.root:
            copy_button(code.rstrip("\n"))
        return self.root, "".join(lines[close + 1 :])


#: An element that shows a group of a table's rows.
Group = RowGroup | ui.html


class TableView(ui.element):
    """A table shown as row groups, each a small table of fixed layout (checked on the server, or sanitized in the
    browser): the groups' columns line up because they all take the widths the server estimated from the first rows
    (`column_widths`), so a group that joins lays out only itself. (One table of all the rows was laid out whole at
    each update: 120-140 ms of the browser's time per update near 1,000 rows.)"""

    def __init__(self, head: str) -> None:
        super().__init__("div")
        self.classes("live-table-scroll")
        self.head = head
        self.rows = ""
        self.widths: list[int] = []
        with self:
            self.grid = ui.element("div").classes("live-table")
        self.show_group(None, _without_rows(render_fresh(head)))

    def show_group(self, group: Group | None, html: str, *, before: Group | None = None) -> Group:
        """Show `html` (markdown2's escaped rendering of rows, or ours of the same: `ui.table_rows`) in `group`, or
        in a new group before `before` (at the end without): a `RowGroup` when it is plain table markup, else a
        `ui.html` that the browser sanitizes. A group whose rows change kind is replaced where it is."""
        plain = table_markup(html)
        if group is not None and isinstance(group, RowGroup) == plain:
            group.set_content(html)
            return group
        with self.grid:
            new_group: Group = RowGroup(html) if plain else ui.html(html, sanitize=True)
        place = group if group is not None else before
        if place is not None:
            new_group.move(self.grid, target_index=self.grid.default_slot.children.index(place))
        if group is not None:
            group.delete()
        return new_group

    def fit_columns(self, rows: str) -> None:
        """Give the columns the widths of the header and `rows` (one small update, and only when they change).

        The table is at least a few characters wide per column (`--table-min`): on a phone a wide table scrolls
        sideways rather than squeeze its columns to a letter each."""
        widths, chars = column_widths(self.head + rows)
        if widths and widths != self.widths:
            self.widths = widths
            columns = "; ".join(f"--c{i}: {width}%" for i, width in enumerate(widths))
            self.grid.style(f"{columns}; --table-min: {sum(min(c, MIN_COLUMN_CHARS) for c in chars)}ch")

    def source(self) -> str:
        """The Markdown this element shows."""
        return self.head + self.rows


def column_widths(table: str) -> tuple[list[int], list[int]]:
    """Percent widths for the columns of a Markdown `table` (header, delimiter row, rows), and the characters
    each column's longest cell has (counted up to `CELL_CHARS`, plus a margin): ([], []) past `MAX_SIZED_COLUMNS`."""
    longest: list[int] = []
    for number, line in enumerate(table.splitlines()):
        if number == 1:
            continue  # the delimiter row
        cells = line.strip().removeprefix("|").removesuffix("|").split("|")
        if number == 0:
            longest = [0] * len(cells)
        for column, cell in enumerate(cells[: len(longest)]):
            longest[column] = max(longest[column], min(len(cell.strip()), CELL_CHARS))
    if len(longest) > MAX_SIZED_COLUMNS:
        return [], []  # the browser's own layout: see `ui.styles`
    chars = [count + 4 for count in longest]
    return [round(100 * count / sum(chars)) for count in chars], chars


class LiveTable:
    """An open Markdown table: the header once, then row groups appended to the same grid.

    The rows that complete in one flush go to the last group while it has room (it is sent again, at most
    `ROWS_PER_GROUP` rows), the rest to new groups of at most that many rows, each sent once: the browser lays
    out only the groups in view (`ui.styles`), so a burst of rows costs it about a screenful. The row being
    written is in an element of its own at the end.
    """

    def __init__(self, head: str) -> None:
        self.head = head
        self._rows_upto = 0  # characters of the rows text in groups
        self._group_rows: list[str] = []  # the rows of the last group
        self._group_html: list[str] | None = []  # their <tr> elements (None: the group is rendered whole)
        self.root = TableView(head)
        self._group: Group | None = None
        self._partial: Group = self.root.show_group(None, "")
        self._sized_rows = 0  # the rows the column widths were estimated from

    def show(self, rows: str) -> bool:
        """Show `rows` (the table's lines after its delimiter row); False when a line is no table row."""
        end = rows.rfind("\n") + 1
        new = rows[self._rows_upto : end].splitlines(keepends=True)
        if any("|" not in line for line in new):
            return False  # the table ended without a blank line: markdown2 renders the rest differently
        if new:
            complete = rows.count("\n", 0, end)
            if self._sized_rows == 0 or self._sized_rows < ROWS_PER_GROUP <= complete:
                self.root.fit_columns(rows[:end])  # from the first rows, then once more from a group's worth
                self._sized_rows = complete
            new_html = rows_html(self.head, new)
            while new:  # the last group while it has room, then new groups of at most ROWS_PER_GROUP rows
                if self._group is None or len(self._group_rows) >= ROWS_PER_GROUP:
                    self._group, self._group_rows, self._group_html = None, [], []
                room = ROWS_PER_GROUP - len(self._group_rows)
                self._group_rows += new[:room]
                new = new[room:]
                if new_html is None or self._group_html is None:
                    self._group_html = None  # rows markdown2 reads its own way: the group rendered whole
                    html = self._rows(self._group_rows)
                else:
                    self._group_html += new_html[:room]
                    new_html = new_html[room:]
                    html = table_body(self._group_html)
                self._group = self.root.show_group(self._group, html, before=self._partial)
            self._rows_upto = end
        partial = rows[end:]
        self.root.rows = rows
        if "|" not in partial:
            html = ""
        elif (partial_html := row_html(partial, column_aligns(self.head))) is not None:
            html = table_body([partial_html])
        else:
            html = self._rows([partial + "\n"])
        self._partial = self.root.show_group(self._partial, html)
        return True

    def finish(self, finished: str) -> tuple[ui.element | None, str]:
        """The table ended: the element that shows it from now on and the text after it."""
        lines = finished.splitlines(keepends=True)
        end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        rows = "".join(lines[2:end])
        if not rows.endswith("\n") or not self.show(rows):
            return None, finished
        return self.root, "".join(lines[end:])

    def _rows(self, rows: list[str]) -> str:
        return _without_head(render_fresh(self.head + "".join(rows)))


def _without_head(html: str) -> str:
    return re.sub(r"<thead>.*?</thead>\n?", "", html, count=1, flags=re.S)


def _without_rows(html: str) -> str:
    return re.sub(r"<tbody>.*?</tbody>\n?", "", html, count=1, flags=re.S)


class LiveTail:
    """The answer's open block: append-only for code fences, tables, paragraphs and lists, re-rendered otherwise."""

    def __init__(self) -> None:
        self.block: LiveCode | LiveTable | LivePieces | None = None
        self._plain_from = -1  # where a block starts that is re-rendered whole after all
        self._not_text_from = -1  # where a block starts that is no plain paragraph or list after all
        self._fence_from = -1  # where an open code fence starts that was not shown yet
        self.deferred = False  # the last `show` left the open block for the next one
        self.root = ui.element("div")
        self.markdown: MarkdownText | None = None  # the open block re-rendered whole, made when one is shown

    def start_after(self) -> None:
        """Leave the current element to the finished part of the answer and go on in a new one after it."""
        with self.root.parent_slot.parent:  # type: ignore[union-attr]
            self.root = ui.element("div")
        self.markdown = None

    def _show_markdown(self, text: str) -> None:
        if self.markdown is None:
            if not text:
                return
            with self.root:
                # Not cached: the tail changes on every flush, a cache would keep a copy of each state.
                self.markdown = MarkdownText(cache=False)
        self.markdown.set_markdown(text)

    def show(self, tail: str, start: int, *, final: bool = False) -> None:
        """Show `tail`, the open part of the answer, which starts at `start` in the answer (`final`: as it ends)."""
        self.deferred = False
        if self.block is None and not final and not _WORD.search(tail):
            # Only a block's marker so far (`- `, `## `, `|`): alone it would show an empty or literal block.
            if self.markdown is not None:
                self.markdown.set_markdown("")
            return
        fresh = self.block is None and start not in (self._plain_from, self._fence_from)
        if fresh and not final and open_fence(tail):
            # An open code fence is shown from the next update on: a short one is finished by then, and is sent
            # once, with its colours, not also as the plain lines it streams as.
            self._fence_from = start
            self.deferred = True
            self._show_markdown("")
            return
        if self.block is None and start != self._plain_from:
            with self.root:
                if fence := open_fence(tail):
                    self.block = LiveCode(fence[0])
                elif table := open_table(tail):
                    self.block = LiveTable(table[0])
                elif start != self._not_text_from and opens_paragraph(tail):
                    self.block = LiveParagraph()
                elif start != self._not_text_from and opens_list(tail) and (shown := list_html(tail)):
                    self.block = LiveList(shown[0])
        if self.block is not None:
            if isinstance(self.block, LivePieces):
                body = tail
            else:
                body = (open_fence(tail) if isinstance(self.block, LiveCode) else open_table(tail)) or ("", "")
                body = body[1]
            if self.block.show(body):
                self._show_markdown("")
                return
            if isinstance(self.block, LivePieces):
                self._not_text_from = start  # it may still open a table: look again next time
            else:
                self._plain_from = start
            self.block.root.delete()
            self.block = None
        self._show_markdown(tail)

    def close(self, tail: str) -> None:
        """The answer (or its text before a step) ended with `tail` open: make sure it shows what `tail` renders
        to (an open paragraph's or list's pieces may differ from the whole, rarely)."""
        if isinstance(self.block, LivePieces) and not self.block.matches(tail):
            self.block.root.delete()
            self.block = None
            self._show_markdown(tail)

    def take(self, finished: str) -> tuple[ui.element | None, str]:
        """The open block is finished and starts `finished`: the element that shows it for good (None if it
        must be rendered like any finished block) and the finished text after it.

        A paragraph's or list's element, or the re-rendered element when it already shows all of `finished`, is small:
        the caller moves it to the finished blocks. The tail goes on in a new element.
        """
        block, self.block = self.block, None
        if block is None:
            kept, self.markdown = self.markdown, None
            if kept is None or not self._shows(kept, finished):
                self.markdown = kept
                return None, finished
            kept.markdown = finished
            return kept, ""
        element, rest = block.finish(finished)
        if element is None:
            block.root.delete()
        return element, rest

    @staticmethod
    def _shows(markdown: MarkdownText, finished: str) -> bool:
        """Whether `markdown` already shows `finished` as a finished block would (no code fence)."""
        segments = fenced_segments(finished)
        return (
            bool(markdown.markdown)
            and [kind for kind, _, _ in segments] == ["markdown"]
            and markdown.content == render_markdown(finished)
        )
