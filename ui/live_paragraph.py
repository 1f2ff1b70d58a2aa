"""An open paragraph shown append-only: its settled words in pieces that are never sent again.

A paragraph that is re-rendered whole on every flush costs its size once per flush, and once more
when it is finished. Here each flush adds the words that can no longer change as a piece (a text
span, or sanitized HTML when it holds markup such as `<strong>`) inside one `<p>`; only the words
after the last settled piece are rendered again. The pieces together are checked against the
whole paragraph's rendering when it ends: if they differ, it is rendered anew, so what stays on
the page is always what the whole text renders to.
"""

from __future__ import annotations

import re
from html import unescape

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from ui.safe_markdown import render_fresh, render_markdown

_PARAGRAPH = re.compile(r"<p>(.*)</p>\n", re.S)
#: What the text after a cut may start with: it then renders alone as it does after the words before it
#: (no list marker, heading, quote, code or table line).
_STARTS_TEXT = re.compile(r"[^\W\d_]|\*\*\S|[(\"']")
#: Markup characters that pair up: a piece is settled only with each of them an even number of times.
_PAIRED = "*_`~$"


def paragraph_html(text: str) -> str | None:
    """The HTML inside `<p>…</p>` when `text` renders as exactly one paragraph, else None."""
    if not text.strip():
        return ""
    match = _PARAGRAPH.fullmatch(render_fresh(text))
    if match is None or "<p>" in match.group(1):
        return None
    return match.group(1)


def opens_paragraph(tail: str) -> bool:
    """Whether `tail` starts as a plain paragraph (not a list, heading, quote, code, table or math)."""
    return bool(_STARTS_TEXT.match(tail)) and "|" not in tail


def settle_point(text: str) -> int:
    """The end of the longest prefix of `text` whose words cannot change with what follows (0 if none).

    A cut is after one space (two before a line break are a `<br>`), before a word or at the end, and
    leaves no markup open before it: no backslash, paired characters and brackets balanced.
    """
    best = 0
    counts = dict.fromkeys(_PAIRED + "[]<>", 0)
    for index, char in enumerate(text):
        if char == "\\":
            break
        if char in counts:
            counts[char] += 1
        cut = index + 1
        if (
            char == " "
            and index > 0
            and text[index - 1] not in " \n"
            and (cut == len(text) or _STARTS_TEXT.match(text, cut))
            and all(counts[c] % 2 == 0 for c in _PAIRED)
            and counts["["] == counts["]"]
            and counts["<"] == counts[">"]
        ):
            best = cut
    return best


class ParagraphView(ui.element):
    """A `<p>` whose words are in pieces: text spans, or sanitized HTML spans where they hold markup."""

    def __init__(self) -> None:
        super().__init__("p")
        self.markdown = ""  # the Markdown shown

    def source(self) -> str:
        """The Markdown this element shows."""
        return self.markdown


def _piece(html: str) -> ui.element:
    if "<" in html:  # markdown2's escaped rendering, which the browser sanitizes again
        return ui.html(html, sanitize=True, tag="span")
    return TextElement(tag="span", text=unescape(html))


class LiveParagraph:
    """An open paragraph: its settled pieces, then one piece for the words that may still change."""

    def __init__(self) -> None:
        self.root = ParagraphView()
        self._settled = 0  # characters of the paragraph in settled pieces
        self._html: list[str] = []  # the HTML of the settled pieces
        self._open: ui.element | None = None  # the piece showing the words after them
        self._open_html = ""

    @property
    def html(self) -> str:
        """What the pieces show together."""
        return "".join(self._html) + self._open_html

    def show(self, text: str) -> bool:
        """Show `text`, the paragraph so far; False when it no longer renders as one paragraph."""
        if "|" in text:
            return False  # it may turn into a table: shown whole, see `ui.live_blocks.LiveTail`
        rest = text[self._settled :]
        html = paragraph_html(rest)
        if html is None:
            return False
        if cut := settle_point(rest):
            settled = html if cut == len(rest) else paragraph_html(rest[:cut])
            if settled and html.startswith(settled):
                self._put(settled)
                self._open = None
                self._html.append(settled)
                self._settled += cut
                html = html[len(settled) :]
        if html or self._open is not None:
            self._put(html)
        self._open_html = html
        self.root.markdown = text
        return True

    def matches(self, text: str) -> bool:
        """Whether the pieces show exactly what `text` (the whole paragraph) renders to."""
        return self.show(text) and render_markdown(text) == f"<p>{self.html}</p>\n"

    def finish(self, finished: str) -> tuple[ui.element | None, str]:
        """The paragraph ended and starts `finished`: the element that shows it from now on (None: render it
        anew) and the text after it."""
        lines = finished.splitlines(keepends=True)
        blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        end = next((i for i in range(blank, len(lines)) if lines[i].strip()), len(lines))
        text, rest = "".join(lines[:end]), "".join(lines[end:])
        if rest[:1].isspace() or not self.matches(text):
            return None, finished
        return self.root, rest

    def _put(self, html: str) -> None:
        """Show `html` in the open piece, or in a new one at the end."""
        plain = "<" not in html
        if self._open is not None and plain != isinstance(self._open, TextElement):
            self._open.delete()
            self._open = None
        if self._open is None:
            with self.root:
                self._open = _piece(html)
        elif isinstance(self._open, TextElement):
            self._open.set_text(unescape(html))
        elif isinstance(self._open, ui.html):
            self._open.set_content(html)
