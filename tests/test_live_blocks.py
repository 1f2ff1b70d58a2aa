"""A long code fence or table streams append-only and ends up shown exactly as its whole text renders."""

from __future__ import annotations

import itertools
import re
from types import SimpleNamespace
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from llm.fake import FakeStreamingChatModel, split_words
from tests.support.page import answers, driven_view, marked, send, serve, shown_markdown, status_text, wait_for
from ui import answer_view
from ui.answer_view import AnswerView
from ui.jobs import LiveAnswer
from ui.live_blocks import (
    HIGHLIGHT_MAX_LINES,
    ROWS_PER_GROUP,
    CodeView,
    HighlightedCode,
    LiveTable,
    TableView,
    column_widths,
)
from ui.safe_markdown import render_markdown
from ui.table_rows import RowGroup

CODE_LINES = 600
CODE = "".join(f"def f{i}(x):\n    return x * {i}  # <b>not bold</b>\n" for i in range(CODE_LINES // 2))
FENCED = f"Here is the file:\n\n```python\n{CODE}```\n\nThat was all.\n"
ROWS = 300
TABLE = "| n | name | note |\n|---|:-----|-----:|\n" + "".join(
    f"| {i} | **item {i}** | `x<{i}>` {'[a](javascript:alert(1))' if i % 40 == 7 else 'plain, text'} |\n"
    for i in range(ROWS)
)  # most rows are written by `ui.table_rows`, a few (a link) by markdown2 and sanitized in the browser
TABLED = f"Intro.\n\n{TABLE}\nAfter the table.\n"


def line_pieces(text: str) -> list[str]:
    """Chunks of a few characters, cut inside lines too (as a provider's tokens are)."""
    return [piece for word in split_words(text) for piece in re.findall(r".{1,6}", word, re.S)]


def views(user: User, kind: type) -> list[Any]:
    assert user.client is not None
    return [e for e in user.client.elements.values() if isinstance(e, kind)]


async def stream(user: User, text: str, rate: float = 4000) -> list[str]:
    """Ask for an answer of exactly `text`; the answer's states seen while it streamed."""
    pieces = line_pieces(text)
    assert "".join(pieces) == text
    serve(FakeStreamingChatModel(pieces=pieces, rate=rate))
    await user.open("/")
    send(user, "go")
    states: list[str] = []

    def seen() -> bool:
        shown = answers(user)
        if shown and (not states or states[-1] != shown[-1]):
            states.append(shown[-1])
        return f"{len(pieces)} chunks" in status_text(user)

    await wait_for(seen, limit=60)
    return states


async def test_a_long_code_fence_streams_line_by_line_in_linear_bytes(user: User, sent_bytes: list[int]) -> None:
    states = await stream(user, FENCED)
    assert answers(user) == [FENCED]
    open_states = [s for s in states if "```python\n" in s and not s.rstrip().endswith("all.")]
    assert len(open_states) >= 5, "the open fence did not grow on the page"
    assert all(b.startswith(a) for a, b in itertools.pairwise(open_states)), "lines were lost"
    (view,) = views(user, CodeView)
    assert view.closed and view.source() == f"```python\n{CODE}```\n"
    # Sent once: the whole answer costs a small multiple of its size, not its size times its flushes.
    assert sum(sent_bytes) < 3 * len(FENCED), f"{sum(sent_bytes)} bytes sent for an answer of {len(FENCED)}"
    assert CODE_LINES > HIGHLIGHT_MAX_LINES  # too long for colours: its plain lines stay as they streamed
    assert views(user, HighlightedCode) == []


async def test_a_short_code_fence_gets_its_colours_once_it_closes(user: User) -> None:
    text = "Look:\n\n```python\nx = 1\nprint(x)\n```\n\nDone.\n"
    await stream(user, text, rate=200)
    assert answers(user) == [text]
    assert views(user, CodeView) == []
    (code,) = views(user, HighlightedCode)
    assert code.markdown == "```python\nx = 1\nprint(x)\n```\n"
    # A `<pre>` with the code's HTML, nothing around it, no sanitizing flag; the block has the `codehilite` class.
    inner = code.html.removeprefix('<div class="codehilite">\n<pre>').removesuffix("</pre>\n</div>\n")
    assert code.html == render_markdown(code.markdown) and code.tag == "pre" and code.props == {"innerHTML": inner}
    assert "codehilite" in code.parent_slot.parent.classes
    assert "<span class=k>print</span>" not in inner  # no quotes: 4 bytes less per token in JSON
    assert "<span class=nb>print</span>(x)" in inner  # a builtin's colour; punctuation has the code's


async def test_a_long_table_streams_in_row_groups_that_render_like_the_whole_table(
    user: User, sent_bytes: list[int]
) -> None:
    states = await stream(user, TABLED)
    assert answers(user) == [TABLED]
    open_states = [s for s in states if "|---|" in s and "After" not in s]
    assert len(open_states) >= 5, "the open table did not grow on the page"
    (table,) = views(user, TableView)
    assert table.source() == TABLE
    group_elements = [e for e in table.descendants() if isinstance(e, (ui.html, RowGroup))]
    groups = [e.content for e in group_elements]
    assert len(groups) > 3
    # Groups with a link are sanitized by the browser; the others are plain table markup, not sanitized again.
    assert {isinstance(e, ui.html) for e in group_elements if "<a " in e.content} == {True}
    assert any(isinstance(e, RowGroup) and "<tr>" in e.content for e in group_elements)
    # The header, then the rows in groups: together exactly the rows of the whole table's rendering.
    whole = render_markdown(TABLE)

    def rows(html: str) -> str:
        return "".join(re.findall(r"<tr>.*?(?=<tr>|</thead>|</tbody>|$)", html, re.S))

    head, body = whole.split("</thead>")
    assert rows(groups[0]) == rows(head) and "<tbody>" not in groups[0]
    assert groups[-1] == ""  # the row being written has an element of its own: none is left at the end
    assert "".join(rows(g) for g in groups[1:]) == rows(body)
    html = "".join(groups)
    assert "<script" not in html and "javascript:" not in html and "&lt;" in html
    assert sum(sent_bytes) < 3 * len(render_markdown(TABLED)), f"{sum(sent_bytes)} bytes sent"


async def test_a_table_that_runs_into_text_falls_back_to_rendering_it_whole(user: User) -> None:
    text = "| a | b |\n|---|---|\n| 1 | 2 |\nno pipe here, so the table ends\n\nEnd.\n"
    await stream(user, text, rate=300)
    assert answers(user) == [text]
    assert views(user, TableView) == []
    shown = [e.content for e in marked(user, "answer-body")[0].descendants() if isinstance(e, ui.html)]
    assert render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\nno pipe here, so the table ends\n\n") in shown


async def test_a_reloaded_page_shows_long_blocks_as_they_streamed(user: User) -> None:
    text = FENCED + "\n" + TABLED
    await stream(user, text)
    live = answers(user)
    await user.open("/")  # the saved answer, rendered from its text at once
    await wait_for(lambda: answers(user) == live)
    (view,) = views(user, CodeView)
    assert view.source() == f"```python\n{CODE}```\n"
    table_html = render_markdown(TABLE).strip()
    assert any(table_html in e.content for e in views(user, ui.html)), "the saved table is not shown whole"


async def test_a_long_list_is_sent_less_often_so_its_bytes_grow_linearly(user: User, sent_bytes: list[int]) -> None:
    # A list is one block that can only be re-rendered whole: a larger one is sent less often.
    def items(count: int) -> str:
        return "".join(f"- item {i} of the list, **with** some words\n" for i in range(count))

    costs = []
    for count in (120, 240):
        text = f"A list:\n\n{items(count)}\nEnd.\n"
        pieces = line_pieces(text)
        serve(FakeStreamingChatModel(pieces=pieces, rate=1500))
        await user.open("/")
        sent_bytes.clear()
        send(user, "list")
        await wait_for(lambda pieces=pieces: f"{len(pieces)} chunks" in status_text(user), limit=60)
        assert answers(user)[-1] == text
        costs.append(sum(sent_bytes))
    assert costs[1] / costs[0] < 2.6, f"twice the list cost {costs[1] / costs[0]:.1f}× the bytes ({costs})"


@pytest.mark.parametrize("lines", [HIGHLIGHT_MAX_LINES, HIGHLIGHT_MAX_LINES + 1])
async def test_a_code_block_looks_the_same_live_and_saved(user: User, lines: int) -> None:
    text = "Code:\n\n```python\n" + "".join(f"x{i} = {i}\n" for i in range(lines)) + "```\n\nEnd.\n"
    await stream(user, text)
    live = [type(v) for v in views(user, CodeView)], [v.markdown for v in views(user, HighlightedCode)]
    await user.open("/")
    await wait_for(lambda: answers(user) == [text])
    assert ([type(v) for v in views(user, CodeView)], [v.markdown for v in views(user, HighlightedCode)]) == live
    assert bool(live[0]) == (lines > HIGHLIGHT_MAX_LINES)  # colours up to the limit, plain lines beyond


def test_a_streamed_table_s_columns_are_sized_by_their_longest_cells() -> None:
    table = "| Name | Note |\n|---|--:|\n| a | a longer note |\n| bee | " + "x" * 80 + " |\n"
    assert column_widths(table) == ([19, 81], [8, 34])  # 4 + 4 ("Name") against 30 + 4 (a long cell counts to 30)
    assert sum(column_widths("| a | b | c |\n|---|---|---|\n")[0]) in range(99, 102)
    assert column_widths("|" + " c |" * 13 + "\n" + "|---" * 13 + "|\n") == ([], [])  # many: the browser's


async def test_an_open_code_fence_is_shown_from_the_next_update(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # Driven update by update: a fence that opens in one update and closes in the next is sent once, coloured;
    # one that stays open shows its lines at the next update, even if nothing more arrived.
    clock = [1000.0]
    monkeypatch.setattr(answer_view, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None

    def update(view: AnswerView, job: LiveAnswer, part: str) -> None:
        if part:
            job.parts.append(part)
        clock[0] += 1.0  # the next update's time
        view.flush()

    for rest, coloured in (["print(x)\n```\n\nDone.\n", True], ["", False]):
        view, job = driven_view(user)
        update(view, job, "Intro words.\n\n```python\nx = 1\n")
        assert "".join(shown_markdown(view.body)) == "Intro words.\n\n"  # the fence waits for the next update
        assert not [e for e in view.body.descendants() if isinstance(e, CodeView)]
        update(view, job, rest)
        code = [e for e in view.body.descendants() if isinstance(e, (CodeView, HighlightedCode))]
        assert [type(e) for e in code] == [HighlightedCode if coloured else CodeView]
        assert "".join(shown_markdown(view.body)) == "".join(job.parts)
        view.root.delete()


def test_highlighted_code_takes_no_tag_but_pygments_spans() -> None:
    # Its HTML is not sanitized in the browser: anything but `<code>` and class-only spans is refused.
    for html in ('<code><img src=x onerror="alert(1)"></code>', '<code><span class=k onclick="x()">a</span></code>'):
        with pytest.raises(ValueError, match="not highlighted code"):
            HighlightedCode("```\nx\n```\n", html)


async def test_a_burst_of_rows_goes_into_groups_of_a_screenful(user: User) -> None:
    # The browser draws only the groups in view (ui.styles): a burst of rows is cut into groups it can skip.
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None
    head = "| n | square |\n|---|---|\n"
    with user.client.content:
        table = LiveTable(head)
    row_counts = lambda: [group.content.count("<tr>") for group in table.root.grid.default_slot.children[1:-1]]  # noqa: E731
    assert table.show("".join(f"| {i} | {i * i} |\n" for i in range(50)))
    assert row_counts() == [ROWS_PER_GROUP] * 3 + [2]  # the last one has room for the next rows
    assert table.show("".join(f"| {i} | {i * i} |\n" for i in range(70)) + "| 70 |")
    assert row_counts() == [ROWS_PER_GROUP] * 4 + [6]
    assert "<td>70" in table.root.grid.default_slot.children[-1].content  # the row being written


async def test_a_group_that_gains_a_link_is_sanitized_from_then_on_in_its_place(user: User) -> None:
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None
    with user.client.content:
        table = LiveTable("| n | note |\n|---|---|\n")
    groups = table.root.grid.default_slot.children
    rows = "| 1 | plain |\n| 2 | **bold** |\n"
    assert table.show(rows + "| 3 | [a](https://example.org) ")  # the row being written has a link
    assert [type(group) for group in groups] == [RowGroup, RowGroup, ui.html]
    assert table.show(rows + "| 3 | [a](https://example.org) |\n| 4 | plain |")
    assert [type(group) for group in groups] == [RowGroup, ui.html, RowGroup]  # header, rows 1-3, row 4
    assert groups[1].props["sanitize"] and "<td>plain" in groups[2].content
    assert [group.content.count("<tr>") for group in groups] == [1, 3, 1]
