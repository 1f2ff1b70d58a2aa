"""One assistant answer on the page: frozen Markdown blocks, an open tail, a status line.

A live view pulls new text from its `LiveAnswer` on a short timer. Each flush moves finished
Markdown blocks into elements of their own that are never sent again (closed code fences
get a copy button) and updates only the open tail, append-only where it is a code fence,
a table, a paragraph or a tight list (`ui.live_blocks`, `ui.live_text`); a block shown append-only
joins the finished ones as it is, so an answer of N chunks costs O(flushes) updates and O(answer)
bytes, not O(N²), whatever its shape. The model's reasoning, if any, streams the same way (append-only)
into a "Thinking" section above the answer (`ui.thinking_view`), never into the answer's body. An agent's
tool calls are cards in the body (`ui.step_view`), each where it happened: the text before a card is
finished, the text after it streams in a new tail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nicegui import ui

from llm.conversation import Conversation, Message
from llm.signals import Signal
from llm.steps import Step
from llm.streaming import figures_line
from ui.jobs import LiveAnswer
from ui.live_blocks import LiveTail, code_block
from ui.live_text import LivePieces, PiecesView
from ui.markdown_blocks import BlockSplitter, fenced_segments
from ui.safe_markdown import MarkdownText, markdown_element
from ui.step_view import StepCard
from ui.thinking_view import ThinkingView

#: Seconds between two page updates of a streaming answer (chunks in between are coalesced). Each update
#: costs about 100 bytes of its own, so fewer of them keep a slow stream's bytes near its text's size; an
#: answer's first words (`FIRST_WORDS_CHARS`), text after a pause and the end go out at the next look instead.
FLUSH_INTERVAL = 0.15
#: Seconds between two page updates once an answer has streamed for `STEADY_AFTER` seconds. The reader
#: watches an answer's first words come; later they read while it streams, and three updates a second still
#: look continuous (a fast model's update is then a line or two). Each update costs about 100 bytes of its own
#: (its new piece, its container's list of children, the message): W2's bytes were 3.50x its text with
#: `FLUSH_INTERVAL` throughout, 3.37x with 0.25 s after 2 s, 3.26x with 0.3 s (bench `W2`, same code).
STEADY_FLUSH_INTERVAL = 0.3
#: Seconds of streaming after which updates come every `STEADY_FLUSH_INTERVAL`.
STEADY_AFTER = 2.0
#: Characters after which new text goes out before `FLUSH_INTERVAL` is over: a fast stream is sent in small
#: updates, each cheap for the browser to lay out, and shown without delay.
FLUSH_CHARS = 3000
#: Characters of an open block that is re-rendered whole (a long list or paragraph) per second of pause
#: between two of its renders: a large one is sent less often, so its cost stays about linear in its size.
TAIL_CHARS_PER_SECOND = 20_000
#: The longest pause between two renders of the open block, however large; its last state is never delayed.
MAX_RERENDER_PAUSE = 0.5
#: Seconds between two looks for the first words of an answer.
FIRST_TICK_INTERVAL = 0.015
#: Characters of an answer that are its first words: they are sent at each look, not coalesced (an answer
#: that starts with `## ` would otherwise show only an empty heading until the next update).
FIRST_WORDS_CHARS = 60
#: Seconds between two looks once it is shown: text after a pause and the end are sent at the next look, text
#: that follows a page update closely waits until `FLUSH_INTERVAL` after it. Every open answer looks this often
#: (a NiceGUI timer tick), so not more often than the end of an answer needs.
TICK_INTERVAL = 0.05
#: Seconds between two updates of the live figures under a streaming answer.
STATUS_INTERVAL = 1.0
#: Frozen blocks per container (a container's update carries the ids of all its children).
GROUP_SIZE = 16
#: Seconds a finished block that was shown while open stays where it streamed before it joins the frozen blocks
#: (where screen readers hear it): the blocks that finish meanwhile join together, in one container update, not
#: one each (a W2 answer's short blocks cost about 70 bytes each that way).
FREEZE_INTERVAL = 1.0

STATUS_TEXT = {"done": "", "stopped": "Stopped", "error": "Incomplete"}
SIGNAL_TEXT = {
    Signal.LOADING: "Loading the local model…",
    Signal.WAITING: "Waiting for the local model (every slot is answering another conversation)…",
}


def preload_answer_components() -> None:
    """One hidden, idle element of each component an answer adds, so that the browser loads their code with the
    page: loading `html.js` at the first answer held its first words back by about 150 ms (W1, fresh page)."""
    ui.html("", sanitize=True).set_visibility(False)
    ui.timer(3600, lambda: None, active=False)


def frozen_group() -> ui.element:
    """A container of finished blocks; screen readers hear each block once, not every chunk of the open one.

    The live region's attributes are on an outer element: the inner one, updated whenever a block joins,
    carries only its children's ids."""
    with ui.element("div").props('aria-live="polite" aria-relevant="additions"'):
        return ui.element("div")


def summary_line(message: Message) -> str:
    """'Stopped · 42 chunks · 1.3 s · 31.5 chunks/s · first after 0.21 s · local' from saved figures and model."""
    parts = (STATUS_TEXT.get(message.status, ""), figures_line(message.figures or {}), message.model or "")
    return " · ".join(p for p in parts if p)


def session_summary(conversation: Conversation) -> str:
    """'This chat: 3 answers · 420 chunks · 9.1 s · 46.2 chunks/s', the rate defined as under each answer."""
    figures = [m.figures for m in conversation.messages if m.role == "assistant" and m.figures]
    if not figures:
        return ""
    chunks = sum(f.get("chunks") or 0 for f in figures)
    seconds = sum(f.get("duration_s") or 0 for f in figures)
    # From each answer's first chunk to its end: the generation speed, not the wait (see `figures_line`).
    spans = sum((f.get("duration_s") or 0) - (f.get("time_to_first_chunk_s") or 0) for f in figures)
    rate = f" · {chunks / spans:.1f} chunks/s" if spans > 0 else ""
    plural = "s" if len(figures) != 1 else ""
    return f"This chat: {len(figures)} answer{plural} · {chunks} chunks · {seconds:.1f} s{rate}"


class AnswerView:
    """The elements of one assistant message, updated in batches."""

    def __init__(self, *, on_update: Callable[[], None] | None = None) -> None:
        self.splitter = BlockSplitter()
        self.job: LiveAnswer | None = None
        self.message: Message | None = None
        self.on_update = on_update
        self._seen = 0  # parts of the job already fed to the splitter
        self._seen_reasoning = 0  # reasoning parts of the job already shown
        self.reasoning: ThinkingView | None = None  # the "Thinking" section, once there is reasoning
        self.step_cards: list[StepCard] = []  # an agent's tool calls, in the order they started
        self._chars = 0  # answer characters fed to the splitters
        self._timer: ui.timer | None = None
        self._status_at = 0.0
        self._tail_due = 0.0  # when the open block may be re-rendered again
        self._tail_stale = False  # text arrived that the open block does not show yet
        self._sent_at = float("-inf")  # when new text, reasoning or steps were last sent
        self._first_sent_at: float | None = None  # when the answer's first text, reasoning or step was sent
        self._unfrozen: list[ui.element] = []  # finished blocks still where they streamed, in order (`FREEZE_INTERVAL`)
        self._frozen_at = 0.0  # when finished blocks last joined the frozen ones
        self._thinking: ui.row | None = None  # the "Thinking…" row, made the first time it is shown
        self._thinking_label: ui.label | None = None
        with ui.row().classes("w-full no-wrap items-start gap-3 answer") as self.root:
            ui.avatar("water_drop", color="primary", text_color="white", size="md").classes("mt-1")
            with ui.column().classes("flex-grow min-w-0 gap-1") as self.column:
                # Plain block layout: the blocks' margins collapse as in one rendered text, and the
                # many small elements of a long answer need no classes of their own.
                body_classes = "w-full answer-body nicegui-markdown"
                with ui.element("div").classes(body_classes).mark("answer-body") as self.body:
                    self.frozen: ui.element | None = frozen_group()
                    self.tail = LiveTail()
                self.error = ui.label("").classes("text-sm text-negative answer-error").mark("answer-error")
                self.error.set_visibility(False)
                with ui.row().classes("w-full items-center gap-1 no-wrap") as self.footer:
                    # One class only: each update of the live figures carries the element's classes.
                    self.status = ui.label("").classes("answer-status").mark("answer-status")
                    ui.space()
                    self.actions = ui.row().classes("gap-0 answer-actions")

    # -- filling ----------------------------------------------------------------------
    def show_live(self, job: LiveAnswer) -> None:
        """Show `job` live until it ends."""
        self.job = job
        job.attach(self)
        self.actions.set_visibility(False)
        with self.root:
            self._timer = ui.timer(FIRST_TICK_INTERVAL, self.flush)
        self.flush()

    def show(self, message: Message) -> None:
        """Show a saved message at once (its reasoning collapsed)."""
        if message.reasoning:
            self._thinking_view(expanded=False).append(message.reasoning)
        self._feed(message.content, message.steps)
        self.tail.show(self.splitter.tail, self.splitter.frozen_upto, final=True)
        self._finish(message)

    def detach(self) -> None:
        """The page is gone: stop pulling (the job decides whether to go on)."""
        if self._timer is not None:
            self._timer.cancel()
        if self.job is not None:
            self.job.detach(self)

    def answer_ended(self) -> None:
        """The answer ended: show its end now (the last words, the figures, the actions), not at the next look."""
        if self.job is not None and not self.root.is_deleted:
            self.flush()

    def flush(self) -> None:
        """Send what arrived since the last flush; finish when the job has ended."""
        job = self.job
        if job is None:
            return
        ended = job.message is not None  # then every part is in
        complete = ended or job.complete  # no more text comes: what is here is shown now
        now = time.monotonic()
        new = job.parts[self._seen :]
        # The tick nearest the interval after the last update sends the next (the ticks drift a little).
        recent = now - self._sent_at < self._flush_interval(now) - TICK_INTERVAL / 2
        if recent and not complete and self._chars >= FIRST_WORDS_CHARS and sum(map(len, new)) < FLUSH_CHARS:
            return  # coalesce: the last update is recent and this one would be small
        thought = self._flush_reasoning(job, answered=bool(new) or self._seen > 0)
        steps = job.steps
        stepped = self._update_steps(steps)
        if new or len(steps) > len(self.step_cards):
            self._seen += len(new)
            stepped = self._feed("".join(new), steps) or stepped
        appends = self.tail.block is not None and not isinstance(self.tail.block, LivePieces)
        if (new or self._tail_stale) and (complete or appends or now >= self._tail_due):
            self.tail.show(self.splitter.tail, self.splitter.frozen_upto, final=complete)
            self._tail_stale = self.tail.deferred
            self._tail_due = now + self._rerender_pause()
        elif new:
            self._tail_stale = True
        if self._unfrozen and now - self._frozen_at >= FREEZE_INTERVAL:
            self._freeze()
        if job.stats.first_chunk_at is not None and now - self._status_at >= STATUS_INTERVAL:
            self._status_at = now  # live figures twice a second are plenty, and cost bytes per update
            self.status.set_text(job.stats.summary())
        elif job.signal is not None and job.stats.first_chunk_at is None:
            self._show_thinking(True, SIGNAL_TEXT[job.signal])
        if self._thinking is None and not ended and not self._chars and self.reasoning is None and not self.step_cards:
            self._show_thinking(True)  # nothing to show yet
        if not ended and self.step_cards:  # between a tool's result and the model's next words
            last = self.step_cards[-1].step
            self._show_thinking(last.status != "running" and self._chars == last.at)
        if ended:
            self._finish(job.message)  # type: ignore[arg-type]
        if new or thought or stepped:
            self._sent_at = now
            if self._first_sent_at is None:
                self._first_sent_at = now
            if self._timer is not None and self._chars >= FIRST_WORDS_CHARS:
                self._timer.interval = TICK_INTERVAL
            if self.on_update:
                self.on_update()

    def _flush_interval(self, now: float) -> float:
        """Seconds between two updates: `FLUSH_INTERVAL` while the answer is young, then `STEADY_FLUSH_INTERVAL`."""
        young = self._first_sent_at is None or now - self._first_sent_at < STEADY_AFTER
        return FLUSH_INTERVAL if young else STEADY_FLUSH_INTERVAL

    def _show_thinking(self, visible: bool, text: str = "Thinking…") -> None:
        """Show or hide the spinner under the answer that says it is coming, with `text`. It is made the first time it
        is shown: an answer whose first words are there when it is drawn (or a saved one) never needs it."""
        if self._thinking is None or self._thinking_label is None:
            if not visible:
                return
            with self.column, ui.row().classes("items-center gap-2") as self._thinking:
                ui.spinner("dots", size="1.5em", color="primary")
                self._thinking_label = ui.label(text).classes("text-sm text-grey-7")
            self._thinking.move(self.column, target_index=self.column.default_slot.children.index(self.error))
        elif visible:
            self._thinking_label.set_text(text)
        self._thinking.set_visibility(visible)

    def _feed(self, text: str, steps: list[Step]) -> bool:
        """Show `text` (the answer's next characters), with a card for each new step where it happened.
        True if a card was added."""
        added = False
        for step in steps[len(self.step_cards) :]:
            cut = step.at - self._chars
            if cut > len(text):
                break  # after text not here yet
            self._feed_text(text[: max(cut, 0)])
            text = text[max(cut, 0) :]
            self._add_step(step)
            added = True
        self._feed_text(text)
        return added

    def _feed_text(self, text: str) -> None:
        if text:
            self._chars += len(text)
            self.splitter.feed(text)
            self._take_finished()

    def _add_step(self, step: Step) -> None:
        """A card after the text so far, which is finished; the text after it starts afresh (a new message)."""
        self._freeze()
        self.tail.show(self.splitter.tail, self.splitter.frozen_upto, final=True)
        self.tail.close(self.splitter.tail)
        self._tail_stale = False
        with self.body:
            self.step_cards.append(StepCard(step))
            self.tail = LiveTail()
        self.splitter = BlockSplitter()
        self.frozen = None
        self._show_thinking(False)

    def _update_steps(self, steps: list[Step]) -> bool:
        """Show the steps' new states on their cards; True if one changed."""
        changed = False
        for card, step in zip(self.step_cards, steps, strict=False):
            if card.step != step:
                card.update(step)
                changed = True
        return changed

    def _thinking_view(self, *, expanded: bool) -> ThinkingView:
        """The "Thinking" section, made when the first reasoning arrives: above the answer text."""
        if self.reasoning is None:
            with self.column:
                self.reasoning = ThinkingView(expanded=expanded)
            self.reasoning.root.move(self.column, target_index=0)
            self._show_thinking(False)  # the section says it: no spinner beside it
        return self.reasoning

    def _flush_reasoning(self, job: LiveAnswer, *, answered: bool) -> bool:
        """Append the reasoning that arrived (True if some did); once the answer starts, close the section and
        say how long it thought."""
        new = job.reasoning_parts[self._seen_reasoning :]
        if new:
            self._seen_reasoning += len(new)
            self._thinking_view(expanded=not answered).append("".join(new))
        if self.reasoning is not None:
            self.reasoning.thinking(job.stats.reasoning_s, now=job.stats.thinking)
            if answered:
                self.reasoning.collapse()
        return bool(new)

    def _rerender_pause(self) -> float:
        """Seconds before the open block is re-rendered again: longer the larger it is, when it is re-rendered
        whole (a long quote) or where a paragraph's words do not settle; 0 when it grows append-only (a code
        fence, a table, a paragraph, a list) or is small."""
        block = self.tail.block
        if block is None:
            rerendered = len(self.splitter.tail)
        else:  # words that do not settle (an odd `*`, text without spaces) are rendered again
            rerendered = block.open_chars if isinstance(block, LivePieces) else 0
        return min(MAX_RERENDER_PAUSE, rerendered / TAIL_CHARS_PER_SECOND)

    def _take_finished(self) -> None:
        if self.splitter.text:
            self._show_thinking(False)
        if finished := self.splitter.take_finished():
            shown, finished = self.tail.take(finished)
            if isinstance(shown, (PiecesView, MarkdownText)):
                # Already on the page as it renders: it joins the finished blocks soon, without being sent again.
                self._unfrozen.append(shown)
            elif shown is not None:
                # A long block stays where it streamed (moving a large element would rebuild it in the
                # browser): the tail's element joins the finished part, a new tail starts after it.
                self._freeze()
                self.tail.start_after()
                self.frozen = None
            if finished:
                self._freeze()  # the blocks before these first: they join the same container update
                with self._group():
                    for kind, text, code in fenced_segments(finished):
                        if kind == "code":
                            code_block(text, code)
                        else:
                            markdown_element(text)
            self._tail_stale = True  # the tail changed: it starts later now

    def _freeze(self) -> None:
        """The finished blocks that are still where they streamed join the frozen ones, in their order."""
        for block in self._unfrozen:
            block.move(self._group())
        self._unfrozen.clear()
        self._frozen_at = time.monotonic()

    def _group(self) -> ui.element:
        """The group the next finished block joins: a container's update lists all its children, so a full
        one is followed by a new one."""
        if self.frozen is None or len(self.frozen.default_slot.children) >= GROUP_SIZE:
            with self.body:
                self.frozen = frozen_group()
            self.tail.root.move(self.body)  # the tail stays last
        return self.frozen

    def _finish(self, message: Message) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.job = None
        self.message = message
        self._freeze()
        self.tail.close(self.splitter.tail)
        self._show_thinking(False)
        self._update_steps(message.steps)  # a step still running when the answer stopped is cut off
        if self.reasoning is not None:
            self.reasoning.thinking((message.figures or {}).get("reasoning_s"), now=False)
        self.status.set_text(summary_line(message))
        if message.incomplete:
            self.status.classes(add="failed" if message.status == "error" else "incomplete")
        if message.status == "error" and message.error:
            self.error.set_text(message.error)
            self.error.set_visibility(True)
        self.actions.set_visibility(True)
        if self.on_update:
            self.on_update()
