"""The page's "Thinking" section: the reasoning streams above the answer, never inside it, is saved with the
message, exported and imported, and never sent back to the model."""

from __future__ import annotations

import json

import pytest
from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement
from nicegui.testing import User

from llm.conversation import Conversation, Message
from llm.factory import make_model
from llm.openai_reasoning import ReasoningChatOpenAI
from llm.settings import Settings
from llm.streaming import build_messages
from tests.support.fake_openai import ANSWER, REASONING, REASONING_FORMS, FakeOpenAIServer
from tests.support.page import answers, marked, send, serve, wait_for
from ui import answer_view
from ui.transfer import read_export


def sections(user: User) -> list[ui.expansion]:
    return marked(user, "thinking")  # type: ignore[return-value]


def thinking_text(user: User) -> str:
    """The reasoning the last answer's section shows ('' when there is none)."""
    bodies = marked(user, "thinking-body")
    if not bodies:
        return ""
    return "".join(e.text for e in bodies[-1].descendants() if isinstance(e, TextElement))


def ended(user: User) -> bool:
    """Whether the last answer has ended (Stop is Send again)."""
    return marked(user, "send")[0].text == "Send" and bool(answers(user))  # type: ignore[attr-defined]


def serve_reasoning(server: FakeOpenAIServer, name: str) -> None:
    model = make_model(f"openai:{name}", Settings(base_url=server.base_url, idle_timeout=5))
    assert isinstance(model, ReasoningChatOpenAI)
    serve(model)


def assert_saved_view(user: User, form_answer: str) -> None:
    (section,) = sections(user)
    assert section.value is False and section.text.startswith("Thought for ")
    assert thinking_text(user) == REASONING
    assert answers(user) == [form_answer]


@pytest.mark.parametrize("name", ["reasoning-content", "reasoning-field", "think-split"])
async def test_thinking_streams_above_the_answer_then_collapses(
    user: User, fake_openai: FakeOpenAIServer, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = REASONING_FORMS[name]
    # The fake reasons for about 0.2 s: flush more often than the page's 150 ms to see it grow in many states.
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 0.02)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 0.02)
    monkeypatch.setattr(answer_view, "TICK_INTERVAL", 0.01)
    serve_reasoning(fake_openai, name)
    await user.open("/")
    send(user, "think first")
    thinking: list[str] = []  # the section's states while the answer is still empty
    answering: list[str] = []  # the answer's states

    def seen() -> bool:
        shown = answers(user)
        answer = shown[-1] if shown else ""
        text = thinking_text(user)
        if text and not answer and (not thinking or thinking[-1] != text):
            thinking.append(text)
            (section,) = sections(user)
            assert section.value is True and section.text == "Thinking…"  # open while it thinks
        if answer and (not answering or answering[-1] != answer):
            answering.append(answer)
        return ended(user)

    await wait_for(seen, limit=20)
    await wait_for(lambda: bool(sections(user)) and sections(user)[0].text.startswith("Thought for "))
    assert len(thinking) >= 3, f"the reasoning did not grow on the page: {thinking}"
    assert all(REASONING.startswith(state) for state in thinking), "reasoning was lost or changed"
    assert len(answering) >= 2 and answering[-1] == form.answer
    # Append-only: each flush added a span of its own, none was sent again.
    spans = [e.text for e in marked(user, "thinking-body")[0].descendants() if isinstance(e, TextElement)]
    assert len(spans) >= 3 and "".join(spans) == REASONING
    assert_saved_view(user, form.answer)
    assert REASONING[:20] not in answers(user)[0] and "think>" not in answers(user)[0]
    seconds = float(sections(user)[0].text.removeprefix("Thought for ").removesuffix(" s"))
    assert 0 < seconds < 10

    await user.open("/")  # the saved message: the same, collapsed
    await wait_for(lambda: answers(user) == [form.answer])
    assert_saved_view(user, form.answer)


async def test_the_reasoning_is_saved_exported_imported_and_never_sent_back(
    user: User, fake_openai: FakeOpenAIServer
) -> None:
    serve_reasoning(fake_openai, "reasoning-content")
    await user.open("/")
    send(user, "think first")
    await wait_for(lambda: answers(user) == [ANSWER] and ended(user))

    user.find("Markdown").click()
    markdown = (await user.download.next()).text
    quoted = "\n".join(f"> {line}" for line in REASONING.splitlines())
    assert "<details><summary>Thought for " in markdown and quoted in markdown
    assert markdown.index(quoted) < markdown.index(ANSWER)  # the reasoning before the answer
    user.find("JSON").click()
    exported = (await user.download.next()).text
    assert json.loads(exported)["messages"][1]["reasoning"] == REASONING
    imported = read_export(exported)
    assert imported.messages[1].reasoning == REASONING and imported.messages[1].content == ANSWER
    assert (imported.messages[1].figures or {}).get("reasoning_s") is not None
    assert "reasoning" not in json.loads(exported)["messages"][0]  # a prompt has none: old data's shape

    sent = build_messages("next", imported.history())
    assert all(REASONING[:20] not in str(m.content) for m in sent)
    assert [str(m.content) for m in sent] == ["think first", ANSWER, "next"]

    send(user, "and again")  # the second request's history carries the answer, not the reasoning
    await wait_for(lambda: len(answers(user)) == 2 and answers(user)[1] == ANSWER and ended(user))
    history = fake_openai.requests[-1]["messages"]
    turns = [(m["role"], m["content"]) for m in history if m["role"] != "system"]
    assert turns == [("user", "think first"), ("assistant", ANSWER), ("user", "and again")]
    assert REASONING[:20] not in json.dumps(history)


async def test_an_unclosed_think_is_all_reasoning_and_no_answer(user: User, fake_openai: FakeOpenAIServer) -> None:
    serve_reasoning(fake_openai, "think-unclosed")
    await user.open("/")
    send(user, "think only")
    await wait_for(lambda: ended(user) and thinking_text(user) == REASONING)
    await wait_for(lambda: sections(user)[0].text.startswith("Thought for "))
    assert answers(user) == [""]
    await user.open("/")
    await wait_for(lambda: thinking_text(user) == REASONING)
    assert_saved_view(user, "")


async def test_no_section_without_reasoning(user: User, fake_openai: FakeOpenAIServer) -> None:
    serve_reasoning(fake_openai, "ok")
    await user.open("/")
    send(user, "plain")
    await wait_for(lambda: answers(user) == [ANSWER] and ended(user))
    assert sections(user) == []
    await user.open("/")
    await wait_for(lambda: answers(user) == [ANSWER])
    assert sections(user) == []


def test_old_saved_messages_load_and_reasoning_round_trips() -> None:
    data = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    old = Conversation.from_dict(data)
    assert [m.reasoning for m in old.messages] == [None, None]
    conversation = Conversation(messages=[Message("user", "hi"), Message("assistant", "yo", reasoning="hmm\nso")])
    again = Conversation.from_dict(json.loads(conversation.to_json()))
    assert again.messages == conversation.messages
    assert build_messages("next", again.history())[1].content == "yo"
    assert "> hmm\n> so" in conversation.to_markdown()
