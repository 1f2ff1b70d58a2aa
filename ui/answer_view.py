"""One assistant answer on the page: frozen Markdown blocks, an open tail, a status line.

Chunks are only collected on arrival; the page is updated by `flush()`, which the chat
page calls on a short timer. Each flush moves finished Markdown blocks into elements of
their own that are never sent again and re-renders only the open tail, so an answer of
N chunks costs O(flushes) updates and O(answer) bytes, not O(N²).
"""

from __future__ import annotations

from nicegui import ui

from llm.streaming import AnswerStats
from ui.markdown_blocks import BlockSplitter

STATUS_TEXT = {
    "done": "",
    "stopped": "Stopped",
    "error": "Incomplete",
}


class AnswerView:
    """The elements of one assistant message, updated in batches."""

    def __init__(self, stats: AnswerStats) -> None:
        self.stats = stats
        self.splitter = BlockSplitter()
        self._shown = 0  # length of splitter.text already on the page
        with ui.row().classes("w-full no-wrap items-start gap-3 answer") as self.message:
            ui.avatar("water_drop", color="primary", text_color="white", size="md").classes("mt-1")
            with ui.column().classes("flex-grow min-w-0 gap-1"):
                with ui.column().classes("w-full gap-0 answer-body").mark("answer-body") as self.body:
                    self.frozen = ui.column().classes("w-full gap-0")
                    self.tail = ui.markdown("").classes("w-full")
                with ui.row().classes("items-center gap-2") as self.thinking:
                    ui.spinner("dots", size="1.5em", color="primary")
                    self.thinking_label = ui.label("Thinking…").classes("text-sm text-grey-7")
                self.error = ui.label("").classes("text-sm text-negative answer-error").mark("answer-error")
                self.error.set_visibility(False)
                self.status = ui.label("").classes("text-xs text-grey-6 answer-status").mark("answer-status")

    @property
    def text(self) -> str:
        """All text received so far (shown or not yet flushed)."""
        return self.splitter.text

    def append(self, chunk: str) -> None:
        """Collect a chunk; it reaches the page at the next `flush()`."""
        self.splitter.feed(chunk)

    def waiting(self) -> None:
        """Show that the answer waits for a shared model that is busy."""
        self.thinking_label.set_text("Waiting for the local model (it is answering another conversation)…")

    def flush(self) -> bool:
        """Send what arrived since the last flush. Returns whether anything changed on the page."""
        if len(self.splitter.text) == self._shown:
            self._update_status()
            return False
        self._shown = len(self.splitter.text)
        self.thinking.set_visibility(False)
        finished = self.splitter.take_finished()
        if finished:
            with self.frozen:
                ui.markdown(finished).classes("w-full")
        self.tail.set_content(self.splitter.tail)
        self._update_status()
        return True

    def _update_status(self) -> None:
        if self.stats.first_chunk_at is not None:
            self.status.set_text(self.stats.summary())

    def finish(self) -> None:
        """Show the final text and figures, and how the answer ended."""
        self.flush()
        self.thinking.set_visibility(False)
        label = STATUS_TEXT.get(self.stats.status, "")
        summary = self.stats.summary() if self.stats.chunks else ""
        self.status.set_text(" · ".join(part for part in (label, summary) if part))
        if self.stats.status == "error" and self.stats.error:
            self.error.set_text(self.stats.error)
            self.error.set_visibility(True)
