"""When the page follows the answer, and when it leaves the reader where they scrolled to."""

from __future__ import annotations

import asyncio

import pytest
from nicegui import ui
from nicegui.testing import User

from llm.fake import FakeStreamingChatModel
from tests.support.page import marked, serve, wait_for
from ui import autoscroll

CONTAINER = 454


def report(user: User, position: float, size: float) -> None:
    """The scroll area reports its position and size, as Quasar does after a scroll or a resize."""
    furthest = max(size - CONTAINER, 1)
    user.find(ui.scroll_area).trigger(
        "scroll",
        {
            "verticalPosition": position,
            "verticalPercentage": min(position / furthest, 1),
            "verticalSize": size,
            "verticalContainerSize": CONTAINER,
            "horizontalPosition": 0,
            "horizontalPercentage": 0,
            "horizontalSize": 0,
            "horizontalContainerSize": 0,
        },
    )


def jump_shown(user: User) -> bool:
    (button,) = marked(user, "jump")
    return button.visible


async def test_text_that_shrinks_at_the_end_does_not_count_as_scrolling_up(user: User) -> None:
    serve(FakeStreamingChatModel(text="x"))
    await user.open("/")
    report(user, 214, 668)  # at the end
    report(user, 214, 662)  # the text got 6 px shorter ...
    report(user, 208, 662)  # ... and the browser moved to the new end, one event later
    assert not jump_shown(user)
    report(user, 250, 704)  # and the page goes on following
    assert not jump_shown(user)


async def test_a_small_scroll_up_stops_following_and_coming_back_resumes(user: User) -> None:
    serve(FakeStreamingChatModel(text="x"))
    await user.open("/")
    report(user, 300, 754)  # at the end
    report(user, 297, 754)  # the reader scrolled up 3 px (the rest of the wheel scroll was cut short)
    assert jump_shown(user)
    report(user, 297, 800)  # more text: the page stays where the reader is
    assert jump_shown(user)
    user.find(marker="jump").click()
    assert not jump_shown(user)


async def test_a_late_landing_of_our_scroll_on_a_slow_browser_does_not_undo_a_scroll_up(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(autoscroll, "monotonic", lambda: now[0])
    serve(FakeStreamingChatModel(text="x"))
    await user.open("/")
    report(user, 300, 754)  # at the end
    report(user, 290, 754)  # the reader scrolled up ...
    user.find(marker="jump").click()  # ... and jumped back: a scroll to the end leaves
    now[0] += 1.2
    report(user, 300, 754)  # it lands 1.2 s later: this browser is slow
    now[0] += 0.1
    report(user, 300, 900)  # more text: the page follows (a scroll to the end leaves)
    now[0] += 0.1
    report(user, 200, 900)  # the reader scrolls up before it lands
    assert jump_shown(user)
    now[0] += 0.9
    report(user, 446, 900)  # our scroll lands at the end, later than the usual 0.5 s but as slow as before
    assert jump_shown(user), "the page took its own late scroll for the reader coming back"
    now[0] += 1
    report(user, 300, 900)  # the reader scrolls on, reads ...
    now[0] += 3
    report(user, 446, 900)  # ... and comes back to the end: followed again
    assert not jump_shown(user)


async def test_growth_the_browser_follows_by_itself_costs_no_scroll(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chromium reports a growth twice: the new size at the old position, then the position its scroll
    # anchoring moved to. Only a growth that stays off the end gets a scroll from the server.
    scrolls: list[float] = []
    monkeypatch.setattr(ui.scroll_area, "scroll_to", lambda self, **kwargs: scrolls.append(kwargs["pixels"]))
    monkeypatch.setattr(autoscroll, "FOLLOW_GRACE", 0.05)
    monkeypatch.setattr(autoscroll, "KEEP_UP_INTERVAL", 0.05)
    serve(FakeStreamingChatModel(text="x"))
    await user.open("/")
    report(user, 300, 754)  # at the end
    scrolls.clear()  # (the page scrolls to the end when it opens)
    report(user, 300, 900)  # more text ...
    report(user, 446, 900)  # ... and the browser followed it
    await asyncio.sleep(2 * autoscroll.FOLLOW_GRACE)  # a timer of the same loop: a held-back scroll goes first
    assert scrolls == [], "the followed growth got a scroll"
    report(user, 446, 1000)  # more text the browser did not follow (Safari has no scroll anchoring)
    await wait_for(lambda: bool(scrolls), limit=5)
    assert scrolls == [autoscroll.PAST_THE_END]
    assert not jump_shown(user)
