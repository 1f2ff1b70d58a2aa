"""The "Thinking" section above an answer: the model's reasoning, streamed append-only as plain text.

Like an open code fence (`ui.live_blocks.CodeView`), each flush appends the new reasoning as one text span in
small groups that are never sent again, so a long reasoning costs O(reasoning) bytes, not O(reasoning²). The
section is open while the model thinks, closes once the answer starts, and then says how long it took.
"""

from __future__ import annotations

from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement

from llm.conversation import thinking_caption
from ui.live_text import group_for

THINKING = "Thinking…"


class ThinkingView:
    """An expansion holding the reasoning: groups of text spans, appended to and never re-sent."""

    def __init__(self, *, expanded: bool = True) -> None:
        with (
            ui.expansion(THINKING, icon="psychology", value=expanded)
            .classes("w-full thinking")
            .props("dense header-class=thinking-header")
            .mark("thinking") as self.root
        ):
            self.body = ui.element("div").classes("thinking-body").mark("thinking-body")
        self._group: ui.element | None = None
        self._collapsed_once = not expanded  # closed by the page once; after that only the user opens or closes it

    @property
    def text(self) -> str:
        """The reasoning shown so far."""
        return "".join(e.text for e in self.body.descendants() if isinstance(e, TextElement))

    @property
    def caption(self) -> str:
        return self.root.text

    @property
    def is_open(self) -> bool:
        return bool(self.root.value)

    def append(self, text: str) -> None:
        """Show `text` after what is shown: one new span, earlier spans untouched."""
        if not text:
            return
        self._group = group_for(self.body, self._group)
        with self._group:
            TextElement(tag="span", text=text)

    def thinking(self, seconds: float | None, *, now: bool) -> None:
        """'Thinking…' while the model thinks (`now`), else 'Thought for 4.2 s'."""
        caption = THINKING if now else thinking_caption(seconds)
        if self.root.text != caption:
            self.root.set_text(caption)

    def collapse(self) -> None:
        """Close the section once, when the answer starts (a user who opens it again keeps it open)."""
        if not self._collapsed_once:
            self._collapsed_once = True
            self.root.close()
