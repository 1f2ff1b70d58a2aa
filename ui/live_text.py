"""An open paragraph or list shown append-only: its settled parts in pieces that are never sent again.

A block that is re-rendered whole on every flush costs its size once per flush, and once more when
it is finished. Here each flush adds what can no longer change as a piece: a paragraph's settled
words as spans inside one `<p>`, a list's finished items as `<li>` elements of one list. A piece is
a text element, or `PlainMarkup` where its HTML has only emphasis and code tags, or else sanitized
`ui.html`. Only the part after the last piece is rendered again. When the block ends, the pieces
together are checked against the whole block's rendering; if they differ, it is rendered anew, so
what stays on the page is always what the whole text renders to.
"""

from __future__ import annotations

import re
from html import unescape

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from ui.markdown_blocks import starts_list_item
from ui.safe_markdown import PlainMarkup, plain_markup, render_fresh, render_markdown

#: Pieces per element: a container's update lists all its children, so past this many the pieces go into
#: groups of this many (a long paragraph or list would otherwise re-send a long list of ids with each piece).
PIECES_PER_GROUP = 16

_PARAGRAPH = re.compile(r"<p>(.*)</p>\n", re.S)
#: What the text after a cut may start with: it then renders alone as it does after the words before it
#: (no list marker, heading, quote, code or table line).
_STARTS_TEXT = re.compile(r"[^\W\d_]|\*\*\S|[(\"']")
#: What stands for the settled words before a paragraph's open part when that is rendered alone.
_CONTEXT = "a "
#: Markup characters that pair up: words are settled only with each of them an even number of times.
_PAIRED = "*_`~$"
#: The first line of a list item at column 0, as markdown2 reads it (`1)` is no item there).
_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}\.) +\S", re.M)
#: A last line that is only an item's marker so far: not shown yet (alone it renders as no item).
_BARE_MARKER = re.compile(r"^(?:[-*+]|\d{1,9}\.?)[ \t]*\Z", re.M)
_LIST = re.compile(r"(<(ul|ol)(?: start=\"\d+\")?>)\n((?:<li>.*?</li>\n)+)</\2>\n", re.S)
_ITEM_HTML = re.compile(r"<li>(.*?)</li>\n", re.S)
#: Items holding one of these are no plain items (a nested list, a loose list's paragraphs).
_BLOCK_TAG = re.compile(r"<(?:p|ul|ol|li|pre|blockquote|h\d|table|hr|div)\b")


def group_for(container: ui.element, group: ui.element | None, tag: str = "span", classes: str = "") -> ui.element:
    """The group a new piece joins: `group` while it has room, else a new one at the end of `container`."""
    if group is None or len(group.default_slot.children) >= PIECES_PER_GROUP:
        with container:
            group = ui.element(tag).classes(classes)
    return group


def paragraph_html(text: str) -> str | None:
    """The HTML inside `<p>…</p>` when `text` renders as exactly one paragraph ('' for blank text), else None."""
    if not text.strip():
        return ""
    match = _PARAGRAPH.fullmatch(render_fresh(text))
    if match is None or "<p>" in match.group(1):
        return None
    return match.group(1)


def list_html(text: str) -> tuple[str, list[str]] | None:
    """`(opening tag, the HTML inside each <li>)` when `text` renders as one tight list of plain items."""
    match = _LIST.fullmatch(render_fresh(text))
    if match is None:
        return None
    items = _ITEM_HTML.findall(match.group(3))
    if any(_BLOCK_TAG.search(item) for item in items):
        return None
    return match.group(1), items


def opens_paragraph(tail: str) -> bool:
    """Whether `tail` starts as a plain paragraph (not a list, heading, quote, code, table or math)."""
    return bool(_STARTS_TEXT.match(tail)) and "|" not in tail


def opens_list(tail: str) -> bool:
    """Whether `tail` starts as a list item with some text."""
    return bool(_ITEM.match(tail)) and "|" not in tail


def settle_point(text: str) -> int:
    """The end of the longest prefix of `text` whose words cannot change with what follows (0 if none).

    A cut is after one space (two before a line break are a `<br>`), before a word or at the end, and
    leaves no markup open before it: runs of each delimiter (`**`, `` ` ``, `$`...) come in pairs and
    brackets are balanced (an escaped character counts for nothing).
    """
    best = 0
    counts = dict.fromkeys(_PAIRED + "[]<>", 0)
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if char == "\\":
            index += 1  # `\*`, `\$`, `\alpha`: the next character pairs with nothing
            continue
        if char in counts and not (char in _PAIRED and text[index - 2 : index - 1] == char and index > 1):
            counts[char] += 1  # a run of one delimiter (`**`) counts once
        if (
            char == " "
            and index > 1
            and text[index - 2] not in " \n"
            and (index == len(text) or _STARTS_TEXT.match(text, index))
            and all(counts[c] % 2 == 0 for c in _PAIRED)
            and counts["["] == counts["]"]
            and counts["<"] == counts[">"]
        ):
            best = index
    return best


class PiecesView(ui.element):
    """A `<p>` or a list whose content is in pieces (see `_piece_kind`), in groups once there are many."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.markdown = ""  # the Markdown shown

    def source(self) -> str:
        """The Markdown this element shows."""
        return self.markdown


def _piece_kind(html: str) -> type[ui.element]:
    """Text, plain emphasis (checked on the server) or other markup (sanitized in the browser as well)."""
    if "<" not in html:
        return TextElement
    return PlainMarkup if plain_markup(html) else ui.html


def _piece(html: str, tag: str) -> ui.element:
    kind = _piece_kind(html)
    if kind is TextElement:
        return TextElement(tag=tag, text=unescape(html))
    if kind is PlainMarkup:
        return PlainMarkup(html, tag=tag)
    return ui.html(html, sanitize=True, tag=tag)  # markdown2's escaped rendering, sanitized again


class LivePieces:
    """An open block: its settled pieces, then one piece for the part that may still change."""

    piece_tag = "span"
    #: The element of a group of pieces: it does not change how they are laid out (see `ui.styles`).
    group_tag = "span"

    def __init__(self, tag: str) -> None:
        self.root = PiecesView(tag)
        self._group: ui.element | None = None  # where new pieces go once the root is full
        self._settled = 0  # characters of the block in settled pieces
        self._html: list[str] = []  # the HTML of the settled pieces
        self._open: ui.element | None = None  # the piece showing the part after them
        self._open_html: list[str] = []

    def show(self, text: str, *, final: bool = False) -> bool:
        """Show `text`, the block so far (`final`: the whole block, nothing of it changes any more); False
        when it no longer renders as this kind of block."""
        if "|" in text:
            return False  # it may turn into a table: shown whole, see `ui.live_blocks.LiveTail`
        parts = self._parts(text[self._settled :])
        if parts is None:
            return False
        settled, chars, rest = parts
        if final and rest:
            settled, chars, rest = self._last_pieces(settled, rest), len(text) - self._settled, ""
        for html in settled:
            self._put(html)
            self._open = None
            self._html.append(html)
        self._settled += chars
        if rest or self._open is not None:
            self._put(rest)
        self._open_html = [rest] if rest else []
        self.root.markdown = text
        return True

    @property
    def open_chars(self) -> int:
        """Characters after the settled pieces, rendered again on each flush."""
        return len(self.root.markdown) - self._settled

    def whole_html(self) -> str:
        """What the whole block renders to when it shows what the pieces show."""
        raise NotImplementedError

    def finish(self, finished: str) -> tuple[ui.element | None, str]:
        """The block ended and starts `finished`: the element that shows it from now on (None: render it
        anew) and the text after it."""
        lines = finished.splitlines(keepends=True)
        blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        end = next((i for i in range(blank, len(lines)) if lines[i].strip()), len(lines))
        text, rest = "".join(lines[:end]), "".join(lines[end:])
        if rest[:1].isspace() or self.goes_on(rest) or not self.matches(text):
            return None, finished
        return self.root, rest

    def goes_on(self, rest: str) -> bool:
        """Whether `rest`, after a blank line, may still belong to this block (then it is rendered anew, whole)."""
        return False

    def matches(self, text: str) -> bool:
        """Whether the pieces show exactly what `text` (the whole block) renders to."""
        return self.show(text, final=True) and render_markdown(text) == self.whole_html()

    def _last_pieces(self, settled: list[str], rest: str) -> list[str]:
        """The pieces that show the block's end: the settled ones, then its open part."""
        return [*settled, rest]

    def _parts(self, rest: str) -> tuple[list[str], int, str] | None:
        """The HTML of the pieces `rest` settles, how many of its characters they show, and the HTML of
        the part after them (None: `rest` is no part of this kind of block)."""
        raise NotImplementedError

    def _put(self, html: str) -> None:
        """Show `html` in the open piece, or in a new one at the end."""
        if self._open is not None and type(self._open) is not _piece_kind(html):
            self._open.delete()
            self._open = None
        if self._open is None:
            with self._parent():
                self._open = _piece(html, self.piece_tag)
        elif isinstance(self._open, TextElement):
            self._open.set_text(unescape(html))
        elif isinstance(self._open, (PlainMarkup, ui.html)):
            self._open.set_content(html)

    def _parent(self) -> ui.element:
        """Where a new piece goes: the root while it has room, then groups in it."""
        if self._group is None and len(self.root.default_slot.children) < PIECES_PER_GROUP:
            return self.root
        self._group = group_for(self.root, self._group, self.group_tag, "piece-group")
        return self._group


class LiveParagraph(LivePieces):
    """An open paragraph: spans of settled words, then the words that may still change."""

    def __init__(self) -> None:
        super().__init__("p")

    def whole_html(self) -> str:
        return f"<p>{''.join(self._html + self._open_html)}</p>\n"

    def _last_pieces(self, settled: list[str], rest: str) -> list[str]:
        return ["".join(settled) + rest]  # one element, not one more for the last word

    def _parts(self, rest: str) -> tuple[list[str], int, str] | None:
        html = self._html_after_settled(rest)
        if html is None:
            return None
        if cut := settle_point(rest):
            settled = html if cut == len(rest) else self._html_after_settled(rest[:cut])
            if settled and html.startswith(settled):
                return [settled], cut, html[len(settled) :]
        return [], 0, html

    def _html_after_settled(self, text: str) -> str | None:
        """The HTML of `text` where it stands: after the settled words, if any (after a word, a `*` or a `1.`
        that starts it is no list marker)."""
        if not self._settled:
            return paragraph_html(text)
        html = paragraph_html(_CONTEXT + text)
        return html[len(_CONTEXT) :] if html is not None and html.startswith(_CONTEXT) else None


class LiveList(LivePieces):
    """An open tight list: its finished items, then the item being written."""

    piece_tag = "li"
    group_tag = "div"

    def __init__(self, opening: str) -> None:
        tag = opening[1:3]
        super().__init__(tag)
        if start := re.search(r'start="(\d+)"', opening):
            self.root.props(f"start={start.group(1)}")
        self.opening = opening

    def goes_on(self, rest: str) -> bool:
        return starts_list_item(rest)  # the blank line made it a loose list

    def whole_html(self) -> str:
        items = "".join(f"<li>{html}</li>\n" for html in self._html + self._open_html)
        return f"{self.opening}\n{items}</{self.root.tag}>\n"

    def _parts(self, rest: str) -> tuple[list[str], int, str] | None:
        if bare := _BARE_MARKER.search(rest):
            rest = rest[: bare.start()]
        if not rest.strip():
            return [], 0, ""
        shown = list_html(rest)
        starts = [match.start() for match in _ITEM.finditer(rest)]
        if shown is None or shown[0][1:3] != self.root.tag or not starts or starts[0] != 0:
            return None
        items = shown[1]
        if len(starts) != len(items):
            return None  # an item's line markdown2 reads otherwise: shown whole
        return items[:-1], starts[-1], items[-1]
