"""An open paragraph or list streams in pieces sent once, and ends up shown exactly as the whole text renders."""

from __future__ import annotations

import random
import re
from html import escape

import pytest
from nicegui import ui
from nicegui.element import Element
from nicegui.elements.mixins.text_element import TextElement
from nicegui.testing import User

from llm.conversation import Message
from llm.fake import FakeStreamingChatModel, split_words
from tests.support.page import answers, driven_view, marked, send, serve, status_text, wait_for
from ui import answer_view, live_text
from ui.live_blocks import CodeView, HighlightedCode, TableView
from ui.live_text import PiecesView, list_html, opens_list, opens_paragraph, paragraph_html, settle_point
from ui.safe_markdown import MarkdownText, PlainBlock, PlainBlocks, PlainMarkup, plain_markup, render_markdown

#: Paragraphs and lists of every kind next to what they may turn into.
TEXT = """\
## A heading

Intro with **bold words** and *emphasis*, a [link](https://example.org "t") and `code <b>` spans,
a soft line break, math $x^2$ that costs $5 and $10, an escaped \\*star\\* and a_snake_case_name here.
Two spaces end this line<BR>
and "quotes" & ampersands < less than.

- item with **bold**
- item with a [link](https://example.org)
- item three
  continued on its own line
- item four

Between the lists.

3. third
4. fourth

And between these.

- loose item

- after a blank line

Then a nested one.

- outer
  - nested

Setext heading words
====================

head | other
-----|------
1    | 2

A paragraph, then a list without a blank line:
- listed

```python
x = 1
```

Last paragraph with the final words.
""".replace("<BR>", "  ")


def piece_html(element: Element) -> str:
    if isinstance(element, TextElement) and not isinstance(element, ui.html):
        return escape(element.text, quote=False)
    if isinstance(element, (ui.html, PlainMarkup)):
        return element.content
    raise AssertionError(f"not a piece: {element}")


def shown_html(element: Element) -> str:
    """The HTML an answer's elements show, written as markdown2 writes it (a code block's copy button aside)."""
    if isinstance(element, PiecesView):
        pieces = [piece_html(e) for e in element.descendants() if e is not element and "piece-group" not in e.classes]
        if element.tag == "p":
            return f"<p>{''.join(pieces)}</p>\n"
        start = f' start="{element.props["start"]}"' if "start" in element.props else ""
        items = "".join(f"<li>{piece}</li>\n" for piece in pieces)
        return f"<{element.tag}{start}>\n{items}</{element.tag}>\n"
    if isinstance(element, (MarkdownText, PlainBlocks)):
        return element.content
    if isinstance(element, (PlainBlock, HighlightedCode)):
        return element.html
    if isinstance(element, (CodeView, TableView)):
        return render_markdown(element.source())  # how they show their lines and rows: tests/test_live_blocks.py
    if isinstance(element, ui.button):
        return ""
    return "".join(shown_html(child) for child in element.default_slot.children)


def tags_apart(html: str) -> str:
    """`html` without the line breaks between tags (they mean nothing between blocks)."""
    return re.sub(r">\s+<", "><", html).strip()


def chunked(text: str, size: int) -> list[str]:
    """Chunks of at most `size` characters, cut inside words and markup too."""
    return [piece for word in split_words(text) for piece in re.findall(f".{{1,{size}}}", word, re.S)]


async def stream(user: User, pieces: list[str], rate: float) -> str:
    """Ask for an answer made of `pieces`; the HTML its elements show once it is complete."""
    serve(FakeStreamingChatModel(pieces=pieces, rate=rate))
    await user.open("/")
    send(user, "go")
    await wait_for(lambda: f"{len(pieces)} chunks" in status_text(user) and answered(user), limit=60)
    assert answers(user) == ["".join(pieces)]
    (body,) = marked(user, "answer-body")
    return shown_html(body)


def answered(user: User) -> bool:
    """Whether the last answer has ended (its actions are shown; the live figures may count the last chunk
    a flush before it is shown)."""
    assert user.client is not None
    actions = [e for e in user.client.elements.values() if "answer-actions" in e.classes]
    return bool(actions) and actions[-1].visible


def pieces_views(user: User) -> list[PiecesView]:
    assert user.client is not None
    return [e for e in user.client.elements.values() if isinstance(e, PiecesView)]


@pytest.mark.parametrize(("size", "rate"), [(6, 2000), (3, 600), (3, 200), (40, 300)])
async def test_streamed_paragraphs_and_lists_render_like_the_whole_text(user: User, size: int, rate: float) -> None:
    shown = await stream(user, chunked(TEXT, size), rate)
    assert tags_apart(shown) == tags_apart(render_markdown(TEXT))
    views = pieces_views(user)
    # (a short list that arrives within one update is finished before it is shown: rendered once, whole; lists
    # streamed as pieces: test_a_list_with_bold_words_streams_its_items_as_pieces)
    assert {v.tag for v in views} >= {"p"}, "no pieces streamed"
    assert any(len(v.default_slot.children) > 1 for v in views if v.tag == "p")


async def test_a_list_with_bold_words_streams_its_items_as_pieces(user: User) -> None:
    # A closing `** ` inside an item is no item marker: the items are still counted right.
    text = "".join(f"- item {i} with **bold** words\n" for i in range(6)) + "\nEnd.\n"
    shown = await stream(user, chunked(text, 6), rate=40)  # about 1 s: several updates while the list is open
    assert tags_apart(shown) == tags_apart(render_markdown(text))
    (items,) = [v for v in pieces_views(user) if v.tag == "ul"]
    assert len(items.default_slot.children) == 6


async def test_a_paragraph_that_turns_into_a_heading_is_rendered_whole(user: User) -> None:
    # Each chunk in a flush of its own: the words settle as a paragraph, then `===` makes them a heading.
    pieces = ["Some ", "words ", "\n===", "\n\n", "End ", "of ", "it"]
    shown = await stream(user, pieces, rate=8)
    assert tags_apart(shown) == tags_apart(render_markdown("".join(pieces)))
    assert "<h1>" in shown and [v.markdown for v in pieces_views(user)] == ["End of it"]


async def test_pieces_that_differ_from_the_whole_are_rendered_anew(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # The safety net under the settling rules: words settled inside open emphasis show `**` as text until
    # the paragraph ends, then it is checked against its whole rendering and shown as that.
    monkeypatch.setattr(live_text, "settle_point", lambda text: text.rfind(" ") + 1)
    pieces = ["a ", "**b ", "c** ", "d\n\n", "End ", "of ", "it"]
    shown = await stream(user, pieces, rate=8)
    assert tags_apart(shown) == tags_apart(render_markdown("".join(pieces)))
    assert "<strong>b c</strong>" in shown and [v.markdown for v in pieces_views(user)] == ["End of it"]


async def test_an_ordered_list_streams_by_items_from_its_first_number(user: User) -> None:
    text = "Steps:\n\n3. first **step**\n4. second step\n5. third step\n\nDone.\n"
    shown = await stream(user, chunked(text, 3), rate=60)
    assert tags_apart(shown) == tags_apart(render_markdown(text))
    (view,) = [v for v in pieces_views(user) if v.tag == "ol"]
    assert view.props["start"] == "3" and len(view.default_slot.children) == 3


async def test_a_long_paragraph_is_sent_once_not_once_per_flush(user: User, sent_bytes: list[int]) -> None:
    text = " ".join(f"word{i} **w{i}**" if i % 50 == 0 else f"word{i}" for i in range(3000)) + ".\n"
    pieces = chunked(text, 6)
    serve(FakeStreamingChatModel(pieces=pieces, rate=3000))
    await user.open("/")
    sent_bytes.clear()
    send(user, "go")
    await wait_for(lambda: f"{len(pieces)} chunks" in status_text(user) and answered(user), limit=60)
    assert answers(user) == [text]
    (view,) = pieces_views(user)
    assert len(list(view.descendants())) >= 10, "the paragraph did not grow by pieces"
    # Re-rendered whole on each of its flushes it would cost its size several times over.
    assert sum(sent_bytes) < 1.6 * len(text), f"{sum(sent_bytes)} bytes sent for a paragraph of {len(text)}"


async def test_a_paragraph_whose_words_never_settle_is_sent_less_often(user: User, sent_bytes: list[int]) -> None:
    # An odd `*` keeps every later word open: re-rendered whole, so a larger one is sent less often.
    costs = []
    for words in (500, 1000):
        text = "Five * three " + " ".join(f"word{i}" for i in range(words)) + ".\n"
        pieces = chunked(text, 6)
        serve(FakeStreamingChatModel(pieces=pieces, rate=600))
        await user.open("/")
        sent_bytes.clear()
        send(user, "go")
        await wait_for(lambda pieces=pieces: f"{len(pieces)} chunks" in status_text(user) and answered(user), limit=60)
        assert answers(user)[-1] == text
        costs.append(sum(sent_bytes))
    print("COSTS", costs)
    assert costs[1] / costs[0] < 2.6, f"twice the paragraph cost {costs[1] / costs[0]:.1f}× the bytes ({costs})"


async def test_model_html_in_pieces_stays_inert(user: User) -> None:
    hostile = (
        "Look <script>alert(1)</script> and <img src=x onerror=alert(1)> **now** [a](javascript:alert(1)) "
        '<div style="position:fixed">x</div> end.\n\n- <iframe src=x></iframe> **b**\n- <svg onload=alert(1)>\n'
    )
    await stream(user, chunked(hostile, 5), rate=400)
    pieces = [child for view in pieces_views(user) for child in view.default_slot.children]
    assert pieces
    html = "".join(p.content for p in pieces if isinstance(p, (ui.html, PlainMarkup)))
    assert all(p.props["sanitize"] for p in pieces if isinstance(p, ui.html))
    assert all(plain_markup(p.content) for p in pieces if isinstance(p, PlainMarkup))
    assert any(isinstance(p, ui.html) for p in pieces)  # the link needs the browser's sanitizing too
    assert set(re.findall(r"<(\w+)", html)) <= {"strong", "a"}, html
    assert re.findall(r"<a [^>]*>", html) == ['<a href="#">'] and "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in "".join(piece_html(p) for p in pieces)  # shown as text


def test_settle_points_leave_open_markup_and_line_ends_unsettled() -> None:
    assert settle_point("one two ") == len("one two ")
    assert settle_point("one two") == len("one ")
    assert settle_point("one **two") == len("one ")
    assert settle_point("one **two three") == len("one ")  # `**` is one delimiter, not two stars
    assert settle_point("one **two** three") == len("one **two** ")
    assert settle_point("a [link](x) b") == len("a [link](x) ")
    assert settle_point("a b [link c") == len("a ")
    assert settle_point("it costs $5 and more") == len("it ")
    assert settle_point("costs $5 and $10 more") == len("costs $5 and $10 ")
    assert settle_point("a b \\*c d") == len("a b \\*c ")  # an escaped star pairs with nothing
    assert settle_point("math $\\alpha + \\$1$ and more") == len("math $\\alpha + \\$1$ and ")
    assert settle_point("two  \nlines") == 0
    assert settle_point("x -y 3.z") == 0  # never before a dash or a digit: alone, the rest might be a list item
    assert settle_point("one - two") == len("one - ")
    assert settle_point("word") == 0


def test_paragraphs_and_lists_are_read_from_their_rendering() -> None:
    assert paragraph_html("a **b** c") == "a <strong>b</strong> c"
    assert paragraph_html("Title\n===") is None and paragraph_html("a\n\nb") is None
    assert list_html("- a\n- **b**\n") == ("<ul>", ["a", "<strong>b</strong>"])
    assert list_html("3. c\n4. d") == ('<ol start="3">', ["c", "d"])
    assert list_html("- a\n\n- b") is None and list_html("- a\n  - b") is None
    assert opens_paragraph("Text") and opens_paragraph("**Bold** start") and not opens_paragraph("- item")
    assert not opens_paragraph("a | b") and not opens_paragraph("# Heading") and not opens_paragraph("1. x")
    assert opens_list("- item") and opens_list("12. item") and not opens_list("- ") and not opens_list("-x")


async def test_plain_markup_is_only_emphasis_and_code_without_attributes(user: User) -> None:
    assert plain_markup("a <strong>b</strong> <em>c</em> <code>&lt;d&gt;</code><br />e")
    serve(FakeStreamingChatModel(pieces=["x"], rate=0))
    await user.open("/")
    assert user.client is not None
    for html in ('<a href="#">x</a>', "<strong onclick=x>y</strong>", "<img src=x>", "<math>x</math>", "<STRONG>"):
        assert not plain_markup(html)
        with user.client, pytest.raises(ValueError):
            PlainMarkup(html)


async def test_a_list_that_turns_loose_after_an_update_stays_one_list(user: User) -> None:
    # The page shows "- loose item" as a tight list, then the next item and the end of the list arrive in one
    # update: the blank line between the items makes it one loose list, not two lists.
    pieces = ["Intro.\n\n", "- loose item\n\n", "- after a blank line\n\nEnd.\n"]
    shown = await stream(user, pieces, rate=4)
    text = "".join(pieces)
    assert tags_apart(shown) == tags_apart(render_markdown(text))
    assert shown.count("<ul>") == 1


@pytest.mark.parametrize("seed", range(4))
async def test_updates_at_random_points_render_like_the_whole_text(
    user: User, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # Every arrival is shown at once (no coalescing, no pause before an open block is rendered again), so
    # each cut below is a state the page shows; the answer's view then equals the whole text's rendering.
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 0)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 0)
    monkeypatch.setattr(answer_view, "TAIL_CHARS_PER_SECOND", float("inf"))
    # Finished blocks join the frozen ones at once, or only at the end: either way in their order.
    monkeypatch.setattr(answer_view, "FREEZE_INTERVAL", float("inf") if seed % 2 else 0.0)
    text = TEXT + "".join(f"| {i} | {i * i} |\n" if i else "\n| n | n² |\n|---|---|\n" for i in range(20))
    text += "\n```\n" + "".join(f"line {i}\n" for i in range(300)) + "```\n\nThe end.\n"
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None
    rng = random.Random(seed)
    for _ in range(10):
        cuts = [*sorted(rng.sample(range(1, len(text)), rng.randint(5, 300))), len(text)]
        view, job = driven_view(user)
        start = 0
        for cut in cuts:
            job.parts.append(text[start:cut])
            start = cut
            view.flush()
        job.message = Message("assistant", text)
        view.flush()
        assert tags_apart(shown_html(view.body)) == tags_apart(render_markdown(text)), f"cuts {cuts}"
        view.root.delete()


async def test_a_block_marker_alone_is_not_shown(user: User) -> None:
    # "- " alone renders as a list that shows "- ", "## " as an empty heading: each waits for its first word.
    pieces = ["Intro words.\n\n", "- ", "first item\n\n", "## ", "A heading\n\n", "> ", "quoted words\n"]
    serve(FakeStreamingChatModel(pieces=pieces, rate=6))
    await user.open("/")
    send(user, "go")
    states: list[str] = []

    def look() -> bool:
        bodies = marked(user, "answer-body")
        if bodies and (html := tags_apart(shown_html(bodies[-1]))) and (not states or states[-1] != html):
            states.append(html)
        return answered(user)

    await wait_for(look, limit=10)
    assert states[-1] == tags_apart(render_markdown("".join(pieces)))
    assert len(states) >= 4, states  # the pieces were seen one by one
    for html in states:
        assert "- <" not in html and "<h2> </h2>" not in html and "<p></p>" not in html, html


async def test_a_paragraph_that_ends_with_its_last_words_adds_one_piece(user: User) -> None:
    # The words that were still open (the last one has no space after it) and the end of the paragraph arrive
    # in one update: they go into one more piece, not one for the settled words and one for the last word.
    serve(FakeStreamingChatModel(pieces=["unused"]))
    await user.open("/")
    assert user.client is not None
    view, job = driven_view(user)
    for part in ["First words of a paragraph ", "and its **last** words.\n\nNext"]:
        job.parts.append(part)
        view.flush()
        view._sent_at = float("-inf")  # no coalescing: each part is one update
    (paragraph, _) = pieces_views(user)
    assert [piece_html(p) for p in paragraph.default_slot.children] == [
        "First words of a paragraph ",
        "and its <strong>last</strong> words.",
    ]
    job.message = Message("assistant", "".join(job.parts))
    view.flush()
    assert tags_apart(shown_html(view.body)) == tags_apart(render_markdown(job.message.content))
