"""The page's cost per answer grows with flushes, not with chunks."""

from __future__ import annotations

import asyncio
import itertools
import time
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.outputs import LLMResult
from nicegui import ui
from nicegui.testing import User

from llm.conversation import Message
from llm.fake import FakeStreamingChatModel, split_words
from tests.support.page import answers, driven_view, send, serve, shown_markdown, status_text, wait_for
from ui import answer_view
from ui.answer_view import AnswerView
from ui.markdown_blocks import fenced_segments


async def test_element_updates_are_bounded_by_flushes(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    flushes = 0
    original_flush = AnswerView.flush

    def counting_flush(self: AnswerView) -> None:
        nonlocal flushes
        flushes += 1
        original_flush(self)

    monkeypatch.setattr(AnswerView, "flush", counting_flush)
    # 3,000 chunks in 6 paragraphs and one long code fence: few blocks, many chunks.
    paragraph = "".join(f"word{i} " for i in range(400)).strip() + "\n\n"
    fence = "```\n" + "".join(f"line {i}\n" for i in range(600)) + "```\n"
    pieces = split_words(paragraph * 3 + fence + paragraph * 3)
    chunks = len(pieces)
    serve(FakeStreamingChatModel(pieces=pieces, rate=1500))
    await user.open("/")
    assert user.client is not None
    outbox = user.client.outbox
    updates = 0
    tail_updates = 0
    original_enqueue = outbox.enqueue_update

    def counting_enqueue(element: object) -> None:
        nonlocal updates, tail_updates
        updates += 1
        if any(element is view.tail.markdown for view in views):
            tail_updates += 1
        original_enqueue(element)  # type: ignore[arg-type]

    views: list[AnswerView] = []
    original_show_live = AnswerView.show_live

    def tracking_show_live(self: AnswerView, job: object) -> None:
        views.append(self)
        original_show_live(self, job)  # type: ignore[arg-type]

    monkeypatch.setattr(AnswerView, "show_live", tracking_show_live)

    monkeypatch.setattr(outbox, "enqueue_update", counting_enqueue)
    send(user, "long")
    await wait_for(lambda: f"{chunks} chunks" in status_text(user), limit=30)
    assert "".join(pieces).startswith(answers(user)[-1][:100])
    assert flushes >= 5
    # Creating the page's elements costs a fixed number of updates; the stream itself one per flush.
    assert tail_updates <= flushes + 1, f"the open tail was updated {tail_updates} times in {flushes} flushes"
    assert updates < chunks / 5, f"{updates} element updates for {chunks} chunks"


async def shown_states(user: User, pieces: list[str], rate: float) -> list[tuple[float, str]]:
    """Stream `pieces` at `rate` chunks/s; each answer text the page showed, with when it was first seen."""
    serve(FakeStreamingChatModel(pieces=pieces, rate=rate))
    await user.open("/")
    send(user, "go")
    states: list[tuple[float, str]] = []

    def seen() -> bool:
        shown = answers(user)
        if shown and shown[-1] and (not states or states[-1][1] != shown[-1]):
            states.append((time.monotonic(), shown[-1]))
        return f"{len(pieces)} chunks" in status_text(user)

    await wait_for(seen, limit=20)
    seen()
    return states


async def test_text_soon_after_an_update_waits_for_the_next_but_the_end_does_not(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 3.0)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 3.0)
    pieces = [f"w{i} " for i in range(60)]  # 0.6 s at 100 chunks/s: well inside one interval
    states = await shown_states(user, pieces, rate=100)
    texts = [text for _, text in states]
    first_words = [t for t in texts if len(t) < answer_view.FIRST_WORDS_CHARS]
    later = [(at, t) for at, t in states if len(t) >= answer_view.FIRST_WORDS_CHARS]
    # The first words as they come, then nothing until the end, which is not held back for the interval.
    assert len(first_words) >= 3, f"the first words were coalesced: {first_words}"
    assert len(later) == 2 and later[-1][1] == "".join(pieces), [t for _, t in later]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert later[-1][0] - later[0][0] < 2.0


async def test_a_fast_stream_is_sent_in_updates_of_a_bounded_size(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 3.0)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 3.0)
    monkeypatch.setattr(answer_view, "FLUSH_CHARS", 40)
    pieces = [f"word{i} " for i in range(100)]  # 700 characters in 0.5 s
    texts = [text for _, text in await shown_states(user, pieces, rate=200)]
    assert len(texts) >= 4, f"{len(texts)} states: text waited for the interval although much had arrived"
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))


async def test_the_end_is_shown_when_the_answer_ends_not_at_the_next_look(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The view looks for news only every 30 s here: the answer's end reaches the page all the same.
    monkeypatch.setattr(answer_view, "FIRST_TICK_INTERVAL", 30.0)
    monkeypatch.setattr(answer_view, "TICK_INTERVAL", 30.0)
    pieces = [f"word{i} " for i in range(20)]
    serve(FakeStreamingChatModel(pieces=pieces, rate=100))
    await user.open("/")
    send(user, "go")
    await wait_for(lambda: "20 chunks" in status_text(user), limit=5)
    assert answers(user) == ["".join(pieces)]


class HeldEnd(AsyncCallbackHandler):
    """Holds LangChain's end-of-stream callback (which runs after it joined all the chunks) until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.reached = False

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.reached = True
        await self.release.wait()


async def test_the_whole_text_is_shown_once_the_model_is_done_before_langchain_s_own_end(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the first words the view sends at most every 30 s: the end goes out all the same, while LangChain
    # still works on the finished stream (its callbacks, and joining all the chunks first).
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 30.0)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 30.0)
    held = HeldEnd()
    pieces = [f"word{i} " for i in range(answer_view.FIRST_WORDS_CHARS // 2)]  # the first words, then more
    serve(FakeStreamingChatModel(pieces=pieces, rate=100, callbacks=[held]))
    await user.open("/")
    send(user, "go")
    await wait_for(lambda: held.reached, limit=5)
    assert answers(user) == ["".join(pieces)]
    button = next(iter(user.find(marker="send").elements))
    assert button.text == "Stop"  # the answer has not ended yet
    held.release.set()
    await wait_for(lambda: button.text == "Send", limit=5)
    assert answers(user) == ["".join(pieces)]


def heard(user: User) -> str:
    """The Markdown of the blocks inside the answer's live regions (what screen readers announce), in order."""
    assert user.client is not None
    regions = [e for e in user.client.elements.values() if e.props.get("aria-live") == "polite"]
    return "".join(text for region in regions for text in shown_markdown(region))


async def test_finished_blocks_join_the_live_regions_together_and_in_order(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_view, "FREEZE_INTERVAL", 30.0)
    paragraphs = [" ".join(f"p{p}w{w}" for w in range(30)) + "\n\n" for p in range(6)]
    pieces = [piece for text in paragraphs for piece in split_words(text)]
    serve(FakeStreamingChatModel(pieces=pieces, rate=100))
    await user.open("/")
    send(user, "go")
    during: list[str] = []

    def look() -> bool:
        during.append(heard(user))
        return f"{len(pieces)} chunks" in status_text(user)

    await wait_for(look, limit=15)
    # The first finished paragraph joins at once, the others wait for the interval (30 s here) or the end.
    assert set(during[:-1]) <= {"", paragraphs[0]}, set(during)
    await wait_for(lambda: heard(user) == "".join(paragraphs[:5]))  # the last one ends the answer in its tail
    assert answers(user) == ["".join(pieces)]


def test_fenced_segments_make_code_blocks_of_closed_top_level_fences() -> None:
    text = "Intro\n\n```python\nx = 1\n\ny = 2\n```\n\n- item\n\n  ```\n  nested\n  ```\n\nEnd\n"
    assert fenced_segments(text) == [
        ("markdown", "Intro\n\n", ""),
        ("code", "```python\nx = 1\n\ny = 2\n```\n", "x = 1\n\ny = 2"),
        ("markdown", "\n- item\n\n  ```\n  nested\n  ```\n\nEnd\n", ""),
    ]
    assert fenced_segments("```\nnot closed\n") == [("markdown", "```\nnot closed\n", "")]


async def test_updates_come_less_often_once_an_answer_has_streamed_a_while(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock of our own: the view looks every 50 ms while 200 words a second arrive.
    clock = [1000.0]
    monkeypatch.setattr(answer_view, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None
    view, job = driven_view(user)
    changes: list[tuple[float, str]] = []  # when the shown text changed, and to what
    for tick in range(80):  # 4 s
        job.parts.extend(f"w{tick}.{i} " for i in range(10))
        view.flush()
        shown = "".join(shown_markdown(view.body))
        if not changes or changes[-1][1] != shown:
            changes.append((clock[0] - 1000.0, shown))
        clock[0] += 0.05
    assert all(b.startswith(a) for (_, a), (_, b) in itertools.pairwise(changes))
    gaps = [(round(t, 2), round(b - t, 2)) for (t, _), (b, _) in itertools.pairwise(changes)]
    young = [gap for at, gap in gaps if 0.3 <= at < answer_view.STEADY_AFTER - 0.3]
    steady = [gap for at, gap in gaps if at >= answer_view.STEADY_AFTER + 0.3]
    assert young and set(young) == {answer_view.FLUSH_INTERVAL}, gaps
    assert steady and set(steady) == {answer_view.STEADY_FLUSH_INTERVAL}, gaps
    job.message = Message("assistant", "".join(job.parts))
    view.flush()  # the end is not held back for the interval
    assert "".join(shown_markdown(view.body)) == job.message.content


async def test_the_thinking_spinner_is_made_only_for_an_answer_that_keeps_the_reader_waiting(user: User) -> None:
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None

    def spinner_rows(view: AnswerView) -> list[bool]:
        """The visibility of each "Thinking…" row under the answer."""
        rows = [e for e in view.column.descendants() if isinstance(e, ui.label) and e.text == "Thinking…"]
        return [row.parent_slot.parent.visible for row in rows]  # type: ignore[union-attr]

    for first_words_there in (True, False):
        view, job = driven_view(user)
        if first_words_there:
            job.parts.append("Hello ")
        view.show_live(job)
        assert spinner_rows(view) == ([] if first_words_there else [True])
        order = [type(e).__name__ for e in view.column.default_slot.children]
        assert order == (["Element", "Label", "Row"] if first_words_there else ["Element", "Row", "Label", "Row"])
        job.parts.append("there.")
        view.flush()
        assert spinner_rows(view) == ([] if first_words_there else [False])
        view.detach()
        view.root.delete()
