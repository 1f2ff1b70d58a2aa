r"""Markdown for model output: raw HTML is shown as text, unsafe links are dropped.

NiceGUI's `ui.markdown` passes raw HTML through to the page and relies on DOMPurify, which
keeps `style` attributes: a model could still cover the page with a fixed overlay. Model
text is untrusted, so it is rendered with markdown2's `safe_mode="escape"` (HTML becomes
visible text, `javascript:` links become `#`), and the browser still sanitizes the result.

Math becomes MathML on the server, with `latex2mathml` as `ui.markdown(extras=['latex'])` does, so the
browser shows it natively (no script). markdown2's own `latex` extra is not used: under `safe_mode`
it escapes its MathML to text, it reads "costs $5 and $10" as math, passes `\style` and `\href` on
as attributes and remembers every code span it ever saw. Here each formula is cut out before markdown2
runs, converted, and its MathML rebuilt from a short list of elements and attributes (`_clean`):
- `$…$` inline, on one line: `$` then no space, no space before the closing `$`, no digit after it
  (pandoc's rule), so prices stay text; `\$` is never a delimiter.
- `$$…$$` display: on one line anywhere, or from a line that starts with `$$` to the next `$$`, with no
  blank line in between (see `ui.markdown_blocks.display_math_opens`).
- Nothing in code fences or code spans; a formula latex2mathml cannot read is left as it was.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from xml.etree import ElementTree

import latex2mathml.converter
import markdown2
from nicegui import ui

from ui.markdown_blocks import _FENCE, display_math_opens, fence_closes

EXTRAS = ["fenced-code-blocks", "tables"]
#: markdown2's aligned table cells: a short class instead of a `style` attribute (no model output carries
#: styles, and a long table repeats it in every cell).
_CELL_ALIGN = re.compile(r'<(t[hd]) style="text-align:(l|c|r)(?:eft|enter|ight);">')
#: The line breaks and indents markdown2 puts between table tags: they mean nothing there, but cost bytes
#: (a long table's HTML is several times its Markdown).
_TABLE_GAPS = re.compile(r"(<tr>|</td>|</th>|</tr>)\s+(?=<t[dhr][ >]|</tr>|</tbody>|</thead>)")
#: End tags HTML lets a table leave out (the parser closes a cell at the next cell, row or section, and a row
#: at the next row or section): a quarter of a long table's HTML. Model text never holds them (it is escaped).
_TABLE_END_TAGS = re.compile(r"</t[dhr]>")
#: Pygments' spans for names, punctuation and white space, and the empty one it starts a block with: their
#: text has the code's own colour (`ui.styles.CODE_CSS`), so they are left out (they are half a block's HTML).
_UNCOLOURED = re.compile(r'<span class="[npw]">([^<]*)</span>|<span></span>')
#: The other spans' class, written without quotes (as the table cells' `class=ac`): 4 bytes less per token once
#: in JSON.
_QUOTED_CLASS = re.compile(r'<span class="(\w+)">')


#: On one line: a code span, a link's address or an autolink (all kept as they are), `$$…$$` (display)
#: or `$…$` (inline).
_INLINE = re.compile(
    r"(?P<keep>(`+)(?!`).+?(?<!`)\2(?!`)|\]\([^)\s]*|<[a-zA-Z][\w+.-]*:[^>\s]*>)"
    r"|(?<!\\)\$\$(?P<display>(?:\\.|[^$\\])+?)\$\$"
    r"|(?<![\\$])\$(?![\s$])(?P<inline>(?:\\.|[^$\\])*?)(?<![\s\\])\$(?!\d)"
)
#: Stands for formula number N while markdown2 runs: private-use characters, which markdown2 leaves alone.
_MARK = "\ue000"
_TOKEN = re.compile("\ue000(\\d+)\ue001")
#: Where a formula's token may land in markdown2's HTML: code and tags get the formula's source text back.
_PLACES = re.compile(r"<(pre|code)\b[^>]*>.*?</\1>|<[^>]*>|\ue000(\d+)\ue001", re.S)
#: The longest formula converted (latex2mathml's time grows with it); longer ones stay text.
MAX_FORMULA = 4000

#: What is kept of latex2mathml's MathML: these elements, and these attributes with plain values.
_TAG_NAMES = (
    "math mrow mi mn mo ms mtext mspace msup msub msubsup mfrac msqrt mroot mover munder munderover mtable mtr mtd "
    "mstyle mpadded menclose mphantom mfenced merror mmultiscripts mprescripts none semantics"
)
_ATTRIBUTE_NAMES = (
    "display mathvariant stretchy fence separator separators form accent accentunder movablelimits largeop symmetric "
    "linethickness displaystyle scriptlevel columnalign rowalign columnlines rowlines frame notation mathcolor open "
    "close align equalrows equalcolumns columnspacing rowspacing"
)
#: Sizes a formula may set: at most 9.99 units, so `\rule{1000em}{1000em}` cannot cover or widen the page.
_SIZE_NAMES = "width height depth lspace rspace voffset minsize maxsize"
_MATHML_TAGS = frozenset(_TAG_NAMES.split())
_MATHML_ATTRS = frozenset(_ATTRIBUTE_NAMES.split())
_SIZE_ATTRS = frozenset(_SIZE_NAMES.split())
_SIZE = re.compile(r"-?(\d(\.\d*)?|\.\d+)(em|ex|pt|px|mu|%)?")
_VALUE = re.compile(r"[\w .#%+-]{0,40}")


def _clean(element: ElementTree.Element) -> str:
    """`element` as MathML made only of known elements and plain attributes (ValueError on anything else)."""
    tag = element.tag.rpartition("}")[2]
    if tag not in _MATHML_TAGS:
        raise ValueError(tag)
    attributes = "".join(
        f' {name}="{escape(value)}"'
        for name, value in element.attrib.items()
        if (name in _MATHML_ATTRS and _VALUE.fullmatch(value)) or (name in _SIZE_ATTRS and _SIZE.fullmatch(value))
    )
    inner = "".join(_clean(child) + escape(child.tail or "", quote=False) for child in element)
    return f"<{tag}{attributes}>{escape(element.text or '', quote=False)}{inner}</{tag}>"


@lru_cache(maxsize=1024)
def math_html(latex: str, display: bool) -> str | None:
    """The MathML of one formula, or None when latex2mathml cannot read it (it is then shown as written)."""
    if not latex.strip() or len(latex) > MAX_FORMULA:
        return None
    try:
        mathml = latex2mathml.converter.convert(latex, display="block" if display else "inline")
        return _clean(ElementTree.fromstring(mathml))
    except Exception:  # latex2mathml raises many kinds on malformed input; any of them means "not math"
        return None


def _inline_math(line: str, offset: int, found: list[tuple[int, int, str | None]]) -> None:
    for match in _INLINE.finditer(line):
        if match.group("keep") is None:
            display = match.group("display") is not None
            html = math_html(match.group("display" if display else "inline"), display)
            if html is not None:
                found.append((offset + match.start(), offset + match.end(), html))


def find_math(text: str) -> list[tuple[int, int, str | None]]:
    """`(start, end, MathML)` of each formula in `text`, in order, read line by line like `_Scan` reads them.

    The MathML is None for a display block over several lines that latex2mathml cannot read: it is shown as
    written, but still kept out of markdown2.
    """
    found: list[tuple[int, int, str | None]] = []
    fence: str | None = None
    math_at = -1  # where the `$$` of an open display block is
    math_line = not_math = -1
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        start, pos = pos, len(text) if newline < 0 else newline + 1
        line = text[start:pos]
        if fence is not None:
            if fence_closes(line, fence):
                fence = None
        elif math_at >= 0:
            if not line.strip():
                pos = not_math = math_line
                math_at = -1
            elif (close := line.find("$$")) >= 0:
                # Kept out of markdown2 even when it is no formula: `_Scan` did not read its lines as Markdown.
                found.append((math_at, start + close + 2, math_html(text[math_at + 2 : start + close], True)))
                math_at = -1
                _inline_math(line[close + 2 :], start + close + 2, found)
        elif match := _FENCE.match(line):
            fence = match.group(1)
        elif start != not_math and (opens := display_math_opens(line)) >= 0:
            math_at, math_line = start + opens, start
        else:
            _inline_math(line, start, found)
    return found


def _with_math(text: str) -> str:
    """markdown2's escaped HTML of `text`, its formulas as MathML (text with no `$` takes no extra step)."""
    found = find_math(text) if "$" in text and _MARK not in text else []
    if not found:
        return markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")
    parts, sources, end = [], [], 0
    for index, (start, stop, _html) in enumerate(found):
        parts += [text[end:start], f"\ue000{index}\ue001"]
        sources.append(text[start:stop])
        end = stop
    html = markdown2.markdown("".join(parts) + text[end:], extras=EXTRAS, safe_mode="escape")

    def place(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return found[int(match.group(2))][2] or escape(sources[int(match.group(2))])
        # markdown2 saw code or a link there: the formula as text
        return _TOKEN.sub(lambda token: escape(sources[int(token.group(1))]), match.group(0))

    return _PLACES.sub(place, html)


def render_fresh(text: str) -> str:
    """The HTML of `text` as the page shows it, not cached (for text that is about to change)."""
    html = _with_math(text)
    if "<table>" in html:
        html = _TABLE_END_TAGS.sub("", _TABLE_GAPS.sub(r"\1", _CELL_ALIGN.sub(r"<\1 class=a\2>", html)))
    if '<div class="codehilite">' in html:
        html = _QUOTED_CLASS.sub(r"<span class=\1>", _UNCOLOURED.sub(r"\1", html))
    return html


#: Tags markdown2 writes for emphasis and code, with no attributes: they can carry no script, style or link.
_PLAIN_TAGS = re.compile(r"</?(?:strong|em|code)>|<br />")


def plain_markup(html: str) -> bool:
    """Whether `html` holds no tag but `_PLAIN_TAGS` (its text is markdown2's escaped text)."""
    return "<" not in _PLAIN_TAGS.sub("", html)


#: Languages whose highlighting is made ready at start (see `warm_up`): the commonest in answers.
WARM_LANGUAGES = ("python", "javascript", "bash", "sql", "json", "html", "yaml")


def warm_up() -> None:
    """Compile the highlighters of the commonest languages now: Pygments builds a language's rules at its first
    use, which held up a server's first Python block by about 80 ms (py-spy, `bench.page` W1)."""
    for language in WARM_LANGUAGES:
        render_fresh(f"```{language}\nx\n```\n")


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    """The HTML of `text` as the page shows it (finished blocks: the same ones recur in every tab)."""
    return render_fresh(text)


class MarkdownText(ui.html):
    """Model Markdown as markdown2's escaped HTML, in an element whose updates carry only the HTML.

    It takes Markdown, never HTML: what it sets is always markdown2's escaped rendering, and the
    browser sanitizes that again (`sanitize=True`). It has no classes of its own, because a long
    answer has many of them: NiceGUI's Markdown styles come from a `nicegui-markdown` ancestor.
    """

    def __init__(self, markdown: str = "", *, cache: bool = True) -> None:
        self._render = render_markdown if cache else render_fresh
        self.markdown = markdown
        # Blank text (the blank line after a code block) renders as an empty `<p>` alone, as nothing in the whole.
        super().__init__(self._render(markdown) if markdown.strip() else "", sanitize=True)

    def set_markdown(self, markdown: str) -> None:
        self.markdown = markdown
        html = self._render(markdown) if markdown.strip() else ""
        if html != self.content:
            self.set_content(html)


class CheckedHtml(ui.element):
    """HTML as an element's own `innerHTML`, checked here to hold only harmless tags (`allows`): the browser neither
    sanitizes it nor makes a component for it, as it does for `ui.html`, and its updates carry only the HTML.
    Anything that fails the check goes to `ui.html(sanitize=True)`."""

    #: What the HTML must be (for the error when it is not).
    kind = "plain markup"

    def __init__(self, html: str, *, tag: str) -> None:
        self._check(html, tag)
        super().__init__(tag)
        self._props["innerHTML"] = html

    @classmethod
    def allows(cls, html: str, tag: str) -> bool:
        """Whether `html` inside `<tag>` may go to the page unsanitized: here, plain markup."""
        return plain_markup(html)

    def _check(self, html: str, tag: str) -> None:
        if not self.allows(html, tag):
            raise ValueError(f"not {self.kind}")

    @property
    def content(self) -> str:
        return self._props["innerHTML"]

    def set_content(self, html: str) -> None:
        self._check(html, self.tag)
        self._props["innerHTML"] = html
        self.update()


class PlainMarkup(CheckedHtml):
    """HTML made only of attribute-free emphasis and code tags: a streamed paragraph has one of these for each piece
    with bold words."""

    def __init__(self, html: str, *, tag: str = "span") -> None:
        super().__init__(html, tag=tag)


#: A rendering that is one paragraph, heading or list (an ordered list that starts at 1).
_SIMPLE_BLOCK = re.compile(r"<(p|h[1-6]|ul|ol)>(.*)</\1>\n", re.S)
#: A list's items, one per line, with no attributes.
_ITEMS = re.compile(r"\n(?:<li>(?:(?!</?li>).)*</li>\n)+", re.S)


class PlainBlock(CheckedHtml):
    """A finished paragraph, heading or list whose HTML is plain markup (a list's items have no attributes and hold
    only that), as that element itself: a heading's update is about 30 bytes, in `MarkdownText` about 90 (its tag,
    the sanitize flag and a wrapper `<div>`)."""

    def __init__(self, markdown: str, tag: str, html: str) -> None:
        super().__init__(html, tag=tag)
        self.markdown = markdown

    @classmethod
    def allows(cls, html: str, tag: str) -> bool:
        return plain_block(tag, html)

    @property
    def html(self) -> str:
        """What the element shows, as markdown2 writes it."""
        return f"<{self.tag}>{self.content}</{self.tag}>\n"


def plain_block(tag: str, html: str) -> bool:
    """Whether `html` inside `<tag>` is plain markup: in a list, items of plain markup."""
    if tag in ("ul", "ol"):
        if not _ITEMS.fullmatch(html):
            return False
        html = re.sub(r"</?li>", "", html)
    return "<p>" not in html and plain_markup(html)


#: The block tags markdown2 writes without attributes: around plain markup, they need no sanitizing either.
_PLAIN_BLOCK_TAGS = re.compile(r"</?(?:p|h[1-6]|ul|ol|li|blockquote)>|<hr />")


def plain_blocks(html: str) -> bool:
    """Whether `html` holds only attribute-free block tags (paragraphs, headings, lists, quotes, rules) around plain
    markup."""
    return plain_markup(_PLAIN_BLOCK_TAGS.sub("", html))


class PlainBlocks(CheckedHtml):
    """Finished blocks whose HTML is `plain_blocks`, in a `<div>` of their own (`MarkdownText` would be sanitized in
    the browser, and sends about 40 bytes more per element)."""

    kind = "plain blocks"

    def __init__(self, markdown: str, html: str) -> None:
        super().__init__(html, tag="div")
        self.markdown = markdown

    @classmethod
    def allows(cls, html: str, tag: str) -> bool:
        return plain_blocks(html)


def markdown_element(markdown: str) -> MarkdownText | PlainBlock | PlainBlocks:
    """An element that shows finished Markdown (no code fence): the lightest one that can."""
    if markdown.strip():
        html = render_markdown(markdown)
        match = _SIMPLE_BLOCK.fullmatch(html)
        if match and plain_block(match.group(1), match.group(2)):
            return PlainBlock(markdown, match.group(1), match.group(2))
        if plain_blocks(html):
            return PlainBlocks(markdown, html)
    return MarkdownText(markdown)
