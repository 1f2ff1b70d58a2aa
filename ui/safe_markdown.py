"""Markdown for model output: raw HTML is shown as text, unsafe links are dropped.

NiceGUI's `ui.markdown` passes raw HTML through to the page and relies on DOMPurify, which
keeps `style` attributes: a model could still cover the page with a fixed overlay. Model
text is untrusted, so it is rendered with markdown2's `safe_mode="escape"` (HTML becomes
visible text, `javascript:` links become `#`), and DOMPurify still runs in the browser.
"""

from __future__ import annotations

from functools import lru_cache

import markdown2
from nicegui import ui

EXTRAS = ["fenced-code-blocks", "tables"]


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    """The HTML of `text` as the page shows it."""
    return markdown2.markdown(text, extras=EXTRAS, safe_mode="escape")


class SafeMarkdown(ui.markdown):
    """`ui.markdown` that never renders the model's raw HTML."""

    def _handle_content_change(self, content: str) -> None:
        html = render_markdown(content)
        if self._props.get("innerHTML") != html:
            self._props["innerHTML"] = html
