"""Conversations as data: titles, history, export and re-import, the per-browser store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm.conversation import Conversation, Message, title_from
from ui.conversation import ConversationStore
from ui.conversation_store import Conversations, FileConversations, MemoryConversations


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
        Message(
            "assistant",
            "Ünïcode 🌊",
            status="stopped",
            figures={"chunks": 3},
            alternatives=[Message("assistant", "old")],
        )
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


@pytest.fixture(params=["memory", "files"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Conversations:
    return MemoryConversations() if request.param == "memory" else FileConversations(tmp_path / "conversations")


async def test_store_saves_lists_and_deletes(backend: Conversations) -> None:
    store = ConversationStore(backend, "browser-1")
    await store.load()
    first, second = Conversation(title="a"), Conversation(title="b")
    store.save(first)
    store.save(second)
    assert [c.title for c in store.all()] == ["b", "a"]
    assert store.current_id is None  # saving does not change which conversation a visit opens
    store.open(second)
    assert store.current().id == second.id
    store.save(first)
    assert store.current().id == second.id
    store.delete(second.id)
    assert [c.title for c in store.all()] == ["a"]
    assert store.current().messages == [] and store.current().id != second.id
    backend.save("browser-1", {"id": "broken", "messages": 3})
    assert [c.title for c in store.all()] == ["a"]  # unreadable entries are skipped
    assert ConversationStore(backend, "browser-2").all() == []  # per browser


async def test_files_keep_one_file_per_conversation_across_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "conversations"
    store = ConversationStore(FileConversations(root), "browser-1")
    await store.load()
    kept, gone, odd = Conversation(title="kept"), Conversation(title="gone"), Conversation(id="../odd id", title="odd")
    for conversation in (kept, gone, odd):
        store.save(conversation)
    store.delete(gone.id)
    store.open(kept)
    store.save_preferences({"temperature": 0.2})
    files = sorted(path.name for path in (root / "browser-1").iterdir())
    assert len(files) == 3 and "browser.json" in files and f"c-{kept.id}.json" in files  # no temporary files left
    assert all(path.parent == root / "browser-1" for path in root.rglob("*.json"))  # the odd id is hashed
    again = ConversationStore(FileConversations(root), "browser-1")  # a new process
    await again.load()
    assert sorted(c.title for c in again.all()) == ["kept", "odd"]
    assert again.current_id == kept.id and again.preferences == {"temperature": 0.2}


async def test_what_nicegui_storage_held_moves_into_the_store(tmp_path: Path) -> None:
    old = Conversation(title="from before")
    old.add_user("Still here?")
    legacy: dict = {"conversations": {old.id: old.to_dict(), "bad": {"messages": 3}}, "current": old.id, "dark": True}
    legacy["preferences"] = {"model": "fake"}
    store = ConversationStore(FileConversations(tmp_path / "conversations"), "browser-1")
    await store.load(legacy)
    assert [c.title for c in store.all()] == ["from before"] and store.current().messages == old.messages
    assert store.preferences == {"model": "fake"}
    assert legacy == {"dark": True}  # moved, not copied: what else NiceGUI keeps stays
    await store.load(legacy)  # a second visit: nothing to move
    assert len(store.all()) == 1


def chat(*texts: str) -> Conversation:
    """A conversation alternating prompt, answer, prompt, … with these texts."""
    return Conversation(messages=[Message("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)])


@pytest.mark.parametrize("index", [2, 3])
def test_deleting_a_turn_from_its_prompt_or_its_answer_removes_both(index: int) -> None:
    conversation = chat("q1", "a1", "q2", "a2", "q3", "a3")
    conversation.delete_turn(index)
    assert [m.content for m in conversation.messages] == ["q1", "a1", "q3", "a3"]


def test_deleting_a_prompt_that_has_no_answer_yet_removes_only_it() -> None:
    conversation = chat("q1", "a1", "q2")
    conversation.delete_turn(2)
    assert [m.content for m in conversation.messages] == ["q1", "a1"]


def test_versions_go_round() -> None:
    conversation = chat("q", "third")
    conversation.messages[1].alternatives = [Message("assistant", "first"), Message("assistant", "second")]
    seen = []
    for _ in range(3):
        assert conversation.flip_version(1)
        seen.append(conversation.messages[1].content)
    assert seen == ["second", "first", "third"]
    assert not chat("q", "only").flip_version(1)


def test_regenerating_keeps_old_answers_but_not_an_empty_failed_one() -> None:
    conversation = chat("q", "good answer")
    prompt, versions = conversation.take_answer_to_regenerate() or ("", [])
    assert (prompt, [v.content for v in versions]) == ("q", ["good answer"])
    assert [m.content for m in conversation.messages] == ["q"]
    failed = chat("q", "")
    failed.messages[1].status, failed.messages[1].alternatives = "error", [Message("assistant", "earlier")]
    assert failed.take_answer_to_regenerate() == ("q", [Message("assistant", "earlier")])
    assert chat("q").take_answer_to_regenerate() is None


def test_truncating_for_an_edit_forgets_the_rest() -> None:
    conversation = chat("q1", "a1", "q2", "a2")
    conversation.truncate(2)
    assert [m.content for m in conversation.messages] == ["q1", "a1"]


def test_an_unknown_status_is_read_as_done() -> None:
    assert Message.from_dict({"role": "assistant", "content": "x", "status": "weird"}).status == "done"


def test_markdown_export_names_the_system_prompt_and_keeps_details_closed() -> None:
    asked = {"system": "Be brief.", "options": {"temperature": 0.2}, "model": "local"}
    conversation = Conversation(
        messages=[
            Message("user", "q1"),
            Message("assistant", "a1", reasoning="I think </details> is a tag.", **asked),
            Message("user", "q2"),
            Message("assistant", "a2", **asked),
        ]
    )
    markdown = conversation.to_markdown()
    assert markdown.count("System prompt:\n\n> Be brief.") == 1  # shared by every answer: said once, on top
    assert markdown.count("*local · temperature 0.2*") == 2
    assert markdown.count("</details>") == 1 and "&lt;/details> is a tag" in markdown
    conversation.messages[3].system = "Be long."
    assert "System prompt:\n\n> Be long." in conversation.to_markdown()  # they differ: each answer says its own


def test_each_version_keeps_its_own_reasoning_steps_and_model() -> None:
    conversation = chat("q", "new")
    conversation.messages[1] = Message("assistant", "new", reasoning="second thoughts", model="local")
    old = Message("assistant", "old", reasoning="first thoughts", model="fake", figures={"chunks": 1})
    conversation.messages[1].alternatives = [old]
    assert conversation.flip_version(1)
    shown = conversation.messages[1]
    assert (shown.content, shown.reasoning, shown.model, shown.figures) == (
        "old",
        "first thoughts",
        "fake",
        {"chunks": 1},
    )
    assert [(v.content, v.reasoning) for v in shown.alternatives] == [("new", "second thoughts")]
    again = Conversation.from_dict(json.loads(conversation.to_json()))
    assert again.messages == conversation.messages
    # An export of an older Rivulet kept the texts only: they still read.
    legacy = Message.from_dict({"role": "assistant", "content": "b", "alternatives": ["a", 3]})
    assert legacy.alternatives == [Message("assistant", "a")]
