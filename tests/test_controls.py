"""Every control says what it does: keyboard, dialogs, theme, counter, undo, import and help."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from llm.conversation import Conversation, Message
from tests.support.models import RecordingFake, ScriptedFake
from tests.support.page import answers, press_escape, prompts, send, serve, status_text, textarea, wait_for
from tests.support.servers import run_main
from ui.transfer import read_export


def drawer_open(user: User) -> bool:
    return next(iter(user.find(kind=ui.right_drawer).elements)).value


async def test_escape_closes_the_settings_drawer_first_then_stops_the_answer(user: User) -> None:
    serve(RecordingFake(chunks=500, rate=40))
    await user.open("/")
    send(user, "a long one")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3)
    user.find(marker="settings-button").click()
    await wait_for(lambda: drawer_open(user))
    press_escape(user)
    await wait_for(lambda: not drawer_open(user))
    assert "Stopped" not in status_text(user)
    press_escape(user)
    await wait_for(lambda: status_text(user).startswith("Stopped"))
    assert "incomplete" in next(iter(user.find(marker="answer-status").elements)).classes


async def test_the_settings_drawer_has_a_close_button(user: User) -> None:
    serve(RecordingFake(pieces=["x"], rate=0))
    await user.open("/")
    user.find(marker="settings-button").click()
    await wait_for(lambda: drawer_open(user))
    user.find(marker="close-settings").click()
    await wait_for(lambda: not drawer_open(user))


async def test_enter_submits_the_rename_and_the_edit_dialogs(user: User) -> None:
    model = ScriptedFake(answers=["One.", "Two."], rate=0)
    serve(model)
    await user.open("/")
    send(user, "first wording")
    await wait_for(lambda: answers(user) == ["One."])
    user.find(marker="conversation-menu").click()
    user.find(marker="rename").click()
    await user.should_see(marker="rename-input")
    user.find(marker="rename-input").clear().type("By Enter").trigger("keydown.enter")
    await wait_for(lambda: [b.text for b in user.find(marker="conversation").elements] == ["By Enter"])
    user.find(marker="edit").click()
    await user.should_see(marker="edit-text")
    user.find(marker="edit-text").clear().type("second wording").trigger("keydown.enter.exact.prevent")
    await wait_for(lambda: prompts(user) == ["second wording"] and answers(user) == ["Two."])


async def test_the_theme_button_shows_the_mode_it_is_in(user: User) -> None:
    serve(RecordingFake(pieces=["x"], rate=0))
    await user.open("/")
    button = next(iter(user.find(marker="dark-mode").elements))
    seen = []
    for _ in range(3):
        seen.append(button.props["icon"])
        user.find(marker="dark-mode").click()
    assert seen == ["brightness_auto", "dark_mode", "light_mode"]
    assert button.props["icon"] == "brightness_auto"


async def test_the_counter_shows_only_near_the_limit(user: User) -> None:
    serve(RecordingFake(pieces=["x"], rate=0), max_prompt_chars=100)
    await user.open("/")
    box = textarea(user)
    user.find(marker="prompt").type("y" * 79)
    assert "counter" not in box.props
    user.find(marker="prompt").type("y")
    await wait_for(lambda: "counter" in box.props)
    user.find(marker="prompt").clear()
    await wait_for(lambda: "counter" not in box.props)


async def test_a_deleted_chat_can_be_brought_back(user: User) -> None:
    serve(ScriptedFake(answers=["Kept."], rate=0))
    await user.open("/")
    send(user, "do not lose me")
    await wait_for(lambda: answers(user) == ["Kept."])
    user.find(marker="conversation-menu").click()
    user.find(marker="delete-conversation").click()
    await wait_for(lambda: prompts(user) == [])
    await user.should_see("Deleted “do not lose me”")
    user.find(marker="undo-delete").click()
    await user.should_see(marker="conversation", content="do not lose me")
    user.find(marker="conversation", content="do not lose me").click()
    await wait_for(lambda: prompts(user) == ["do not lose me"] and answers(user) == ["Kept."])
    await user.open("/")  # it is saved again, not only shown
    assert prompts(user) == ["do not lose me"]


def test_an_imported_chat_is_told_apart_from_its_original() -> None:
    original = Conversation(title="Rivers", messages=[Message("user", "hi")])
    imported = read_export(original.to_json())
    assert (imported.title, imported.id != original.id) == ("Rivers (imported)", True)
    assert read_export(imported.to_json()).title == "Rivers (imported)"  # not "(imported) (imported)"


async def test_the_page_declares_its_language(user: User) -> None:
    serve(RecordingFake(pieces=["x"], rate=0))
    response = await user.http_client.get("/")
    assert '<html lang="en-US">' in response.text


def test_the_top_level_help_lists_the_default_commands_options() -> None:
    result = run_main("--help")
    assert result.returncode == 0
    for option in ("--model", "--port", "--host", "--models", "ask"):
        assert option in result.stdout, option
