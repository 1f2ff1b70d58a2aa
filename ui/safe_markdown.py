"""Markdown for model output: raw HTML is shown as text, unsafe links are dropped.

NiceGUI's `ui.markdown` passes raw HTML through to the page and relies on DOMPurify, which
keeps `style` attributes: a model could still cover the page with a fixed overlay. Model
text is untrusted, so it is rendered with markdown2's `safe_mode="escape"` (HTML becomes
visible text, `javascript:` links become `#`), and the browser still sanitizes the result.
"""

from __future__ import annotations

import re
from functools import lru_cache

import markdown2
from nicegui import ui

EXTRAS = ["fenced-code-blocks", "tables"]
#: markdown2's aligned table cells: a short class instead of a `style` attribute (no model output carries
#: styles, and a long table repeats it in every cell).
_CELL_ALIGN = re.compile(r'<(t[hd]) style="text-align:(l|c|r)(?:eft|enter|ight);">')
#: The line breaks and indents markdown2 puts between table tags: they mean nothing there, but cost bytes
#: (a long table's HTML is several times its Markdown).
_TABLE_GAPS = re.compile(r"(<tr>|</td>|</th>|</tr>)\s+(?=<t[dhr][ >]|</tr>|</tbody>|</thead>)")


def render_fresh(text: str) -> str:
    """The HTML of `text` as the page shows it, not cached (for text that is about to change)."""
    html = markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")
    if "<table>" in html:
        html = _TABLE_GAPS.sub(r"\1", _CELL_ALIGN.sub(r"<\1 class=a\2>", html))
    return html


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    """The HTML of `text` as the page shows it (finished blocks: the same ones recur in every tab)."""
    return render_fresh(text)


class SafeMarkdown(ui.markdown):
    """`ui.markdown` that never renders the model's raw HTML (it also loads the code highlighting styles)."""

    def _handle_content_change(self, content: str) -> None:
        html = render_markdown(content)
        if self._props.get("innerHTML") != html:
            self._props["innerHTML"] = html


class MarkdownText(ui.html):
    """Markdown shown like `SafeMarkdown`, in an element whose updates carry only the HTML.

    It takes Markdown, never HTML: what it sets is always markdown2's escaped rendering, and the
    browser sanitizes that again (`sanitize=True`). It has no classes of its own, because a long
    answer has many of them: NiceGUI's Markdown styles come from a `nicegui-markdown` ancestor.
    """

    def __init__(self, markdown: str = "", *, cache: bool = True) -> None:
        self._render = render_markdown if cache else render_fresh
        self.markdown = markdown
        super().__init__(self._render(markdown) if markdown else "", sanitize=True)

    def set_markdown(self, markdown: str) -> None:
        self.markdown = markdown
        html = self._render(markdown) if markdown else ""
        if html != self.content:
            self.set_content(html)
