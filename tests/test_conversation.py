"""Conversations as data: titles, history, export and re-import, the per-browser store."""

from __future__ import annotations

import json

import pytest

from ui.conversation import Conversation, ConversationStore, Message, title_from


def test_title_from_first_prompt() -> None:
    assert title_from("  What is   a river?\nMore  ") == "What is a river? More"
    long = title_from("word " * 40)
    assert long.endswith("…") and len(long) <= 49


def test_history_keeps_partial_answers_and_skips_empty_ones() -> None:
    conversation = Conversation()
    conversation.add_user("one")
    conversation.messages.append(Message("assistant", "part", status="stopped"))
    conversation.add_user("two")
    conversation.messages.append(Message("assistant", "", status="error", error="x"))
    assert [(t.role, t.content) for t in conversation.history()] == [
        ("user", "one"),
        ("assistant", "part"),
        ("user", "two"),
    ]
    assert conversation.title == "one"


def test_json_round_trip_and_markdown() -> None:
    conversation = Conversation(title="Rivers")
    conversation.add_user("Hi <b>there</b>")
    conversation.messages.append(
        Message("assistant", "Ünïcode 🌊", status="stopped", figures={"chunks": 3}, alternatives=["old"])
    )
    again = Conversation.from_dict(json.loads(conversation.to_json()))
    assert again.messages == conversation.messages and again.title == "Rivers"
    markdown = conversation.to_markdown()
    assert "# Rivers" in markdown and "## Assistant *(stopped)*" in markdown and "Ünïcode 🌊" in markdown


@pytest.mark.parametrize(
    "data", [{}, {"messages": "x"}, {"messages": [{"role": "robot", "content": "x"}]}, {"messages": [{"role": "user"}]}]
)
def test_bad_imports_are_refused(data: dict) -> None:
    with pytest.raises(ValueError):
        Conversation.from_dict(data)


def test_store_saves_lists_and_deletes() -> None:
    storage: dict = {}
    store = ConversationStore(storage)
    first, second = Conversation(title="a"), Conversation(title="b")
    store.save(first)
    store.save(second)
    assert [c.title for c in store.all()] == ["b", "a"]
    assert store.current().id == second.id
    store.delete(second.id)
    assert [c.title for c in store.all()] == ["a"]
    assert store.current().messages == [] and store.current().id != second.id
    storage["conversations"]["broken"] = {"messages": 3}
    assert [c.title for c in store.all()] == ["a"]  # unreadable entries are skipped
