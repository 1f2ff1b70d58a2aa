"""Conversations, reload, persistence and conversation tools on the page (NiceGUI `user` fixture)."""

from __future__ import annotations

import time

from nicegui.testing import User

from llm.factory import ModelRegistry
from llm.settings import Settings
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.models import RecordingFake, ScriptedFake
from tests.support.page import answers, click_nth, press_escape, prompts, send, serve, status_text, textarea, wait_for
from ui.chat_page import register_pages


async def test_reload_mid_answer_shows_the_partial_and_keeps_growing(user: User) -> None:
    model = RecordingFake(chunks=60, rate=30)
    serve(model)
    await user.open("/")
    send(user, "a long one")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 5)
    partial = answers(user)[-1]
    await user.open("/")  # reload: a new page in the same browser
    await user.should_see("a long one")
    await wait_for(lambda: bool(answers(user)) and answers(user)[-1].startswith(partial))
    states = {answers(user)[-1]}
    await wait_for(lambda: states.add(answers(user)[-1]) or "60 chunks" in status_text(user))
    final = answers(user)[-1]
    assert len(final) > len(partial) and len(states) >= 3
    assert len(model.calls) == 1, "the reload must not start a second answer"


async def test_conversation_survives_a_reload(user: User) -> None:
    serve(ScriptedFake(answers=["Saved answer."], rate=0))
    await user.open("/")
    send(user, "remember me")
    await wait_for(lambda: answers(user) == ["Saved answer."])
    await user.should_see("Send")
    await user.open("/")
    await user.should_see("remember me")
    assert answers(user) == ["Saved answer."]


async def test_closed_tab_stops_the_provider_and_saves_the_partial(user: User, fake_openai: FakeOpenAIServer) -> None:
    settings = Settings(model="openai:slow", base_url=fake_openai.base_url)
    chat = register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "go slowly")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3)
    assert user.client is not None
    user.client.delete()  # what NiceGUI does once the reconnect grace has passed
    closed_at = time.monotonic()
    await wait_for(lambda: bool(fake_openai.times("closed", "slow")), limit=2)
    assert fake_openai.times("closed", "slow")[0] - closed_at < 1.0
    await wait_for(lambda: len(chat.board) == 0)
    await user.open("/")
    await user.should_see("go slowly")
    assert answers(user)[-1].startswith("w0 w1 w2")
    assert "Stopped" in status_text(user)


async def test_new_chat_switch_rename_delete(user: User) -> None:
    serve(ScriptedFake(answers=["A."], rate=0))
    await user.open("/")
    send(user, "first chat question")
    await wait_for(lambda: answers(user) == ["A."])
    await user.should_see("Send")
    user.find(marker="new-chat").click()
    await wait_for(lambda: prompts(user) == [])
    await user.should_see("Ask something")
    send(user, "second chat question")
    await wait_for(lambda: answers(user) == ["A."])
    await user.should_see("Send")
    user.find(marker="conversation", content="first chat question").click()
    await wait_for(lambda: prompts(user) == ["first chat question"])

    def titles() -> list[str]:
        return sorted(b.text for b in user.find(marker="conversation").elements)

    assert titles() == ["first chat question", "second chat question"]
    click_nth(user, "conversation-menu", 0)  # a menu is made when it is first opened: only this one has items
    user.find(marker="rename").click()
    await user.should_see(marker="rename-input")
    user.find(marker="rename-input").clear().type("Renamed chat")
    user.find(marker="rename-ok").click()
    await wait_for(lambda: "Renamed chat" in titles())
    click_nth(user, "conversation-menu", 0)  # the list was drawn anew with the new title
    user.find(marker="delete-conversation").click()
    await wait_for(lambda: len(titles()) == 1)


async def test_regenerate_keeps_the_old_version(user: User) -> None:
    model = ScriptedFake(answers=["First answer.", "Second answer."], rate=0)
    serve(model)
    await user.open("/")
    send(user, "question")
    await wait_for(lambda: answers(user) == ["First answer."])
    await user.should_see("Send")
    user.find(marker="regenerate").click()
    await wait_for(lambda: answers(user) == ["Second answer."])
    await user.should_see("2 versions")
    assert [m.text for m in model.calls[1]][-1] == "question"
    assert len(model.calls[1]) == len(model.calls[0]), "regenerate must not send the old answer as history"
    user.find(marker="flip").click()
    await wait_for(lambda: answers(user) == ["First answer."])


async def test_edit_and_resend_continues_from_there(user: User) -> None:
    model = ScriptedFake(answers=["One.", "Two.", "Three."], rate=0)
    serve(model)
    await user.open("/")
    send(user, "first")
    await wait_for(lambda: answers(user) == ["One."])
    await user.should_see("Send")
    send(user, "second")
    await wait_for(lambda: answers(user) == ["One.", "Two."])
    await user.should_see("Send")
    user.find(marker="edit").click()  # the lowest element id: the first prompt's button
    await user.should_see(marker="edit-text")
    user.find(marker="edit-text").clear().type("first, edited")
    user.find(marker="resend").click()
    await wait_for(lambda: answers(user) == ["Three."])
    assert prompts(user) == ["first, edited"]
    texts = [m.text for m in model.calls[-1]]
    assert texts[-1] == "first, edited" and "One." not in texts


async def test_delete_turn(user: User) -> None:
    serve(ScriptedFake(answers=["One.", "Two."], rate=0))
    await user.open("/")
    send(user, "first")
    await wait_for(lambda: answers(user) == ["One."])
    await user.should_see("Send")
    send(user, "second")
    await wait_for(lambda: answers(user) == ["One.", "Two."])
    await user.should_see("Send")
    user.find(marker="delete-turn").click()  # the lowest element id: the first turn's button
    await wait_for(lambda: answers(user) == ["Two."])
    assert prompts(user) == ["second"]


async def test_keyboard_escape_stops_and_up_recalls(user: User) -> None:
    serve(RecordingFake(chunks=500, rate=40))
    await user.open("/")
    send(user, "keyboard prompt")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3)
    press_escape(user)  # Esc anywhere on the page, no drawer open: stop
    await wait_for(lambda: "Stopped" in status_text(user))
    user.find(marker="prompt").trigger("keydown.up")
    await wait_for(lambda: textarea(user).value == "keyboard prompt")


async def test_model_switch_takes_effect_on_the_next_answer(user: User) -> None:
    settings = Settings(model="test", models=["fake:chunks=3,rate=0"])
    first = ScriptedFake(answers=["From test."], rate=0)
    register_pages(ModelRegistry(settings, preset={"test": first}), settings)
    await user.open("/")
    await user.should_see("model: test")
    user.find(marker="model-select").click()
    user.find("fake:chunks=3,rate=0").click()
    await user.should_see("model: fake:chunks=3,rate=0")
    send(user, "hello")
    await wait_for(lambda: len(answers(user)) == 1 and len(answers(user)[0].split()) == 3)
    assert first.calls == []
    await user.open("/")
    await user.should_see("model: fake:chunks=3,rate=0")  # remembered per browser


async def test_each_conversation_keeps_its_own_model(user: User) -> None:
    settings = Settings(model="test", models=["fake:chunks=3,rate=0"])
    first = ScriptedFake(answers=["From test.", "Test again."], rate=0)
    register_pages(ModelRegistry(settings, preset={"test": first}), settings)
    await user.open("/")
    send(user, "first chat")
    await wait_for(lambda: answers(user) == ["From test."])
    user.find("New chat").click()
    user.find(marker="model-select").click()
    user.find("fake:chunks=3,rate=0").click()
    await user.should_see("model: fake:chunks=3,rate=0")
    send(user, "second chat")
    await wait_for(lambda: len(answers(user)) == 1 and len(answers(user)[0].split()) == 3)
    # Back in the first chat: its own model again, in the header and the picker, and for its next answer.
    user.find("first chat").click()
    await user.should_see("model: test")
    assert user.find(marker="model-select").elements.pop().value == "test"
    send(user, "once more")
    await wait_for(lambda: answers(user)[-1:] == ["Test again."])
    assert len(first.calls) == 2
    # A new chat starts with the model picked last.
    user.find("New chat").click()
    await user.should_see("model: fake:chunks=3,rate=0")


async def test_export_markdown_and_json(user: User) -> None:
    serve(ScriptedFake(answers=["Exported **answer**."], rate=0))
    await user.open("/")
    send(user, "export me")
    await wait_for(lambda: answers(user) == ["Exported **answer**."])
    user.find("Markdown").click()
    markdown = await user.download.next()
    assert "export me" in markdown.text and "Exported **answer**." in markdown.text
    assert "*test · max_tokens 512 · temperature 0.7*" in markdown.text  # what the answer was asked with
    user.find("JSON").click()
    data = (await user.download.next()).json()
    assert data["format"] == "rivulet-conversation"
    assert [m["content"] for m in data["messages"]] == ["export me", "Exported **answer**."]
    assert (data["model"], data["messages"][1]["model"]) == ("test", "test")
    assert data["messages"][1]["options"] == {"temperature": 0.7, "max_tokens": 512}


async def test_prompt_length_is_limited_with_a_visible_counter(user: User) -> None:
    serve(RecordingFake(pieces=["x"], rate=0), max_prompt_chars=50)
    await user.open("/")
    box = textarea(user)
    assert box.props.get("maxlength") == "50" and "counter" not in box.props
    user.find(marker="prompt").type("y" * 39)
    assert "counter" not in box.props
    user.find(marker="prompt").type("y")  # 40 characters: 80 % of the limit, the counter shows
    assert "counter" in box.props
    user.find(marker="prompt").type("y" * 10)
    await wait_for(lambda: box.error is not None)
    assert box.error == "That is the limit of 50 characters: longer text was cut off."
