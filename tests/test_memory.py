"""Handing freed memory back after tabs close: one trim for a burst of closed tabs, after they are gone."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.page import wait_for
from ui import memory


async def test_a_burst_of_closed_tabs_shares_one_release_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    if memory._TRIM is None:
        pytest.skip("not glibc: nothing is handed back")
    calls: list[float] = []
    monkeypatch.setattr(memory, "release_memory", lambda: calls.append(asyncio.get_running_loop().time()) or True)
    started = asyncio.get_running_loop().time()
    for _ in range(5):  # five tabs deleted together
        memory.release_memory_soon(delay=0.05)
    await wait_for(lambda: bool(calls))
    assert calls[0] - started >= 0.05
    memory.release_memory_soon(delay=0.05)  # a later tab: a release of its own
    await wait_for(lambda: len(calls) == 2)
