"""Driving and reading the chat page in NiceGUI's simulated `user` tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from nicegui import ElementFilter, ui
from nicegui.element import Element
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from llm.factory import ModelRegistry
from llm.settings import Settings
from ui.answer_view import AnswerView
from ui.chat_page import PageServices, register_pages
from ui.jobs import LiveAnswer
from ui.live_blocks import CodeView, HighlightedCode, TableView
from ui.live_text import PiecesView
from ui.safe_markdown import MarkdownText, PlainBlock, PlainBlocks


def serve(model: BaseChatModel | None = None, **options: object) -> PageServices:
    """Register the chat page answering with `model` (else the settings' spec); returns what its pages share."""
    settings = Settings(model="test", **options) if model is not None else Settings(**options)
    registry = ModelRegistry(settings, preset={"test": model} if model is not None else None)
    return register_pages(registry, settings)


def marked(user: User, marker: str) -> list[Element]:
    """The page's elements with `marker`, in page order, visible or not (none is fine, unlike `user.find`)."""
    assert user.client is not None
    with user.client:
        return list(ElementFilter(marker=marker, local_scope=False))


def answers(user: User) -> list[str]:
    """The Markdown of every answer on the page, in order, as its elements show it (frozen blocks + tail)."""
    return ["".join(shown_markdown(body)) for body in marked(user, "answer-body")]


def shown_markdown(element: Element) -> list[str]:
    """The Markdown the answer blocks in `element` show, in order."""
    if isinstance(element, ui.markdown):
        return [element.content]
    if isinstance(element, (MarkdownText, PlainBlock, PlainBlocks, HighlightedCode)):
        return [element.markdown]
    if isinstance(element, (CodeView, TableView, PiecesView)):
        return [element.source()]
    return [text for child in element.default_slot.children for text in shown_markdown(child)]


def send(user: User, text: str) -> None:
    user.find(marker="prompt").type(text).trigger("keydown.enter.exact.prevent")


async def wait_for(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def status_text(user: User) -> str:
    """The status line of the last answer ('' before there is one)."""
    labels = marked(user, "answer-status")
    return labels[-1].text if labels else ""  # type: ignore[attr-defined]


def error_text(user: User) -> str:
    """The error line of the last answer ('' when it has none)."""
    labels = marked(user, "answer-error")
    return labels[-1].text if labels else ""  # type: ignore[attr-defined]


def prompts(user: User) -> list[str]:
    """The user messages shown in the conversation, in order."""
    assert user.client is not None
    labels = [e for e in user.client.elements.values() if "user-message" in e.classes]
    return [e.text for e in sorted(labels, key=lambda e: e.id)]


def textarea(user: User) -> ui.textarea:
    return next(iter(user.find(marker="prompt").elements))  # type: ignore[return-value]


#: A keydown of Esc as NiceGUI's page-wide keyboard element reports it.
ESCAPE = {
    "action": "keydown",
    "repeat": False,
    "altKey": False,
    "ctrlKey": False,
    "metaKey": False,
    "shiftKey": False,
    "key": "Escape",
    "code": "Escape",
    "location": 0,
}


def press_escape(user: User) -> None:
    """Esc with the focus anywhere on the page (the page's `ui.keyboard`, marked "keys")."""
    user.find(marker="keys").trigger("key", ESCAPE)


def click_nth(user: User, marker: str, index: int) -> None:
    """Click the `index`-th element (in page order) marked `marker`."""
    elements = sorted(user.find(marker=marker).elements, key=lambda e: e.id)
    UserInteraction(user, {elements[index]}, None).click()


def driven_view(user: User) -> tuple[AnswerView, LiveAnswer]:
    """An answer view on the open page fed by a job the test fills itself: `job.parts` are the chunks so far,
    `view.flush()` is one look (no model, no timer)."""
    assert user.client is not None
    with user.client.content:
        view = AnswerView()
    job = LiveAnswer(("user", "chat"), conversation=None)  # type: ignore[arg-type]
    view.job = job
    return view, job
