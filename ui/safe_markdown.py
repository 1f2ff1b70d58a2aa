"""Markdown for model output: raw HTML is shown as text, unsafe links are dropped.

NiceGUI's `ui.markdown` passes raw HTML through to the page and relies on DOMPurify, which
keeps `style` attributes: a model could still cover the page with a fixed overlay. Model
text is untrusted, so it is rendered with markdown2's `safe_mode="escape"` (HTML becomes
visible text, `javascript:` links become `#`), and the browser still sanitizes the result.
"""

from __future__ import annotations

from functools import lru_cache

import markdown2
from nicegui import ui

EXTRAS = ["fenced-code-blocks", "tables"]


def render_fresh(text: str) -> str:
    """The HTML of `text` as the page shows it, not cached (for text that is about to change)."""
    return markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")


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
