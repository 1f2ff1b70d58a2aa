"""Keeps the newest text in view while the reader stays at the bottom; a button brings a reader back who scrolled up.

The browser follows growing text by itself: scroll anchoring keeps the only anchor it may choose, an element at
the end of the content, where it was while it is in view, that is while the reader is at the end (see
`AUTOSCROLL_CSS`). The server scrolls only where that did not happen: when the area reports that it grew while
the reader was following and the end is no longer in view (the first overflow, from where the browser does not
anchor yet; a browser without scroll anchoring, such as Safari).
"""

from __future__ import annotations

import asyncio
from time import monotonic

from nicegui import events, ui

from ui.widgets import icon_button

#: A scroll position past any end: the browser stops at the real end. (A percentage would be turned into pixels
#: with the area's last reported size, which lags behind fast-growing text and can land above the end.)
PAST_THE_END = 10**9
#: Seconds a growth report waits for the report of the browser's own follow: Chromium reports the new size, then
#: the position its scroll anchoring moved to, a few milliseconds apart.
FOLLOW_GRACE = 0.1
#: How near the end (pixels) counts as at the end.
END_SLACK_PX = 4
#: Seconds between two scrolls to the end while text streams in, where the browser does not follow by itself.
#: Each is a message of about 115 bytes: one per 0.5 s came to 0.22x a W2 answer's own bytes.
KEEP_UP_INTERVAL = 0.5
#: How long after the reader scrolled up an "at the end" report is taken for our own scroll still landing, at
#: least; twice the slowest recent round trip of a scroll when that is longer (a busy or distant browser).
SETTLE_SECONDS = 0.5
#: Longest settle time: a reader who comes back to the end is followed again after this at the latest.
MAX_SETTLE_SECONDS = 3.0


#: Only the end marker may be the scroll anchor, so the view moves with it only while it is in view. It needs a
#: width: an empty box in the area's flex column has none, and the browser anchors nothing that has no area.
AUTOSCROLL_CSS = """
.scroll-content { overflow-anchor: none; }
.scroll-anchor { overflow-anchor: auto; height: 1px; width: 100%; flex-shrink: 0; }
"""


class Autoscroll:
    """A scroll area that sticks to its end until the reader scrolls up, with a "jump to latest" button. What
    goes in it goes in `content`."""

    def __init__(self) -> None:
        self.sticks_to_end = True
        self._last_position = 0.0
        self._last_size = 0.0
        self._scrolled_up_at = 0.0
        self._kept_up_at = 0.0
        self._sent_at: float | None = None  # when a scroll to the end left that has not been seen landing yet
        self._round_trip = 0.0  # seconds from sending a scroll to the end to its report, slowest recent one
        self._held_back: asyncio.TimerHandle | None = None  # a scroll to the end waiting for its interval
        self.area = ui.scroll_area(on_scroll=self._on_scroll).classes("w-full h-full")
        with self.area:
            self.content = ui.element("div").classes("w-full scroll-content")
            ui.element("div").classes("scroll-anchor")
        self.jump = (
            icon_button("south", "Jump to the latest text", self.jump_to_end, "round color=primary")
            .classes("absolute bottom-3 right-6")
            .mark("jump")
        )
        self.jump.set_visibility(False)

    def keep_up(self) -> None:
        """The area grew past the view: scroll to the end unless the reader scrolled away, after `FOLLOW_GRACE`
        (a report meanwhile that the view is at the end, because the browser followed, cancels it) and at most
        every `KEEP_UP_INTERVAL`. A scroll held back is sent when the interval is over, so the last growth is
        followed too."""
        if self.sticks_to_end and self._held_back is None:
            wait = max(FOLLOW_GRACE, KEEP_UP_INTERVAL - (monotonic() - self._kept_up_at))
            self._held_back = asyncio.get_running_loop().call_later(wait, self._keep_up_now)

    def _keep_up_now(self) -> None:
        if self._held_back is not None:
            self._held_back.cancel()
            self._held_back = None
        if self.sticks_to_end and not self.area.is_deleted:
            self._kept_up_at = monotonic()
            self._scroll_to_end()

    def jump_to_end(self) -> None:
        self.sticks_to_end = True
        self.jump.set_visibility(False)
        self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        if self._sent_at is None:
            self._sent_at = monotonic()
        self.area.scroll_to(pixels=PAST_THE_END)

    def _settle_seconds(self) -> float:
        return min(MAX_SETTLE_SECONDS, max(SETTLE_SECONDS, 2 * self._round_trip))

    def _on_scroll(self, event: events.ScrollEventArguments) -> None:
        furthest = event.vertical_size - event.vertical_container_size
        # In pixels, not a share of the height: 1 % of a long answer is a screenful left unseen.
        at_end = furthest - event.vertical_position <= END_SLACK_PX
        now = monotonic()
        if at_end and self._held_back is not None:
            self._held_back.cancel()  # the browser followed by itself
            self._held_back = None
        if at_end and self._sent_at is not None:
            self._round_trip = max(min(now - self._sent_at, MAX_SETTLE_SECONDS), 0.9 * self._round_trip)
            self._sent_at = None
        # Our own scrolls only go down. The browser moves the position up by itself only to the furthest
        # position, when that comes nearer (the text shrank or the area grew), maybe an event after the new
        # size: any other move up is the reader's, even of a few pixels (a wheel scroll that our next scroll
        # to the end interrupts may not get further).
        moved_up = self._last_position - 2 > event.vertical_position < furthest - 2
        if moved_up:
            self.sticks_to_end = False  # stop following until they come back
            self._scrolled_up_at = now
        elif at_end and now - self._scrolled_up_at > self._settle_seconds():
            # A scroll to the end sent just before the reader scrolled up lands after it and reports
            # "at the end" too: only an end reached a little later means the reader came back.
            self.sticks_to_end = True
        elif self.sticks_to_end and not at_end and event.vertical_size > self._last_size:
            # The text grew past the view: follow it unless the browser does (its report comes next).
            self.keep_up()
        self._last_position = event.vertical_position
        self._last_size = event.vertical_size
        self.jump.set_visibility(not self.sticks_to_end)
