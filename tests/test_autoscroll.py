"""When the page follows the answer, and when it leaves the reader where they scrolled to."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from llm.fake import FakeStreamingChatModel
from tests.support.page import marked, serve

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
