"""Several tabs of one browser on the same conversations: one live copy, nothing lost, changes shown everywhere."""

from __future__ import annotations

from nicegui import Client
from nicegui.testing import User

from llm.factory import ModelRegistry
from llm.settings import Settings
from tests.support.models import RecordingFake, ScriptedFake
from tests.support.page import answers, click_nth, prompts, send, serve, status_text, textarea, wait_for
from ui.chat_page import register_pages


def on_tab(user: User, tab: Client) -> User:
    """Drive and read `tab` (a client opened earlier by the same simulated browser)."""
    user.client = tab
    return user


def button_text(user: User) -> str:
    return next(iter(user.find(marker="send").elements)).text


async def ask_and_wait(user: User, prompt: str) -> None:
    count = len(answers(user))
    send(user, prompt)
    await wait_for(lambda: len(answers(user)) == count + 1 and button_text(user) == "Send" and bool(status_text(user)))


async def test_turns_asked_in_two_tabs_are_all_kept(user: User) -> None:
    serve(ScriptedFake(answers=["Answer."], rate=0))
    tab1 = await user.open("/")
    await ask_and_wait(user, "A")
    tab2 = await user.open("/")
    await ask_and_wait(on_tab(user, tab1), "B")
    await wait_for(lambda: prompts(on_tab(user, tab2)) == ["A", "B"])  # tab 2 shows B without a reload
    await ask_and_wait(on_tab(user, tab2), "C")
    assert prompts(on_tab(user, tab1)) == ["A", "B", "C"]
    await ask_and_wait(on_tab(user, tab1), "D")
    await user.open("/")  # a new tab reads what was saved
    assert prompts(user) == ["A", "B", "C", "D"]
    assert answers(user) == ["Answer."] * 4


async def test_a_running_answer_grows_in_the_other_tab_too(user: User) -> None:
    serve(ScriptedFake(answers=["Hello.", " ".join(f"word{i}" for i in range(40))], rate=40))
    tab1 = await user.open("/")
    await ask_and_wait(user, "Hi")
    tab2 = await user.open("/")
    send(on_tab(user, tab1), "Tell me a story")
    on_tab(user, tab2)
    seen: list[str] = []

    def grows_to_the_end() -> bool:
        shown = answers(user)
        if shown and (not seen or seen[-1] != shown[-1]):
            seen.append(shown[-1])
        return button_text(user) == "Send" and len(shown) == 2 and seen[-1].endswith("word39")

    await wait_for(lambda: button_text(user) == "Stop")  # tab 2 knows an answer is running
    await wait_for(grows_to_the_end)
    assert prompts(user) == ["Hi", "Tell me a story"]
    growing = [s for s in seen if s.startswith("word") and not s.endswith("word39")]
    assert len(growing) >= 3, f"tab 2 saw no intermediate states: {seen}"


async def test_a_second_question_while_another_tab_streams_is_refused_with_a_reason(user: User) -> None:
    model = ScriptedFake(answers=["Hello.", " ".join(f"word{i}" for i in range(60))], rate=30)
    serve(model)
    tab1 = await user.open("/")
    await ask_and_wait(user, "Hi")
    tab2 = await user.open("/")
    send(on_tab(user, tab1), "First")
    await wait_for(lambda: button_text(on_tab(user, tab2)) == "Stop")
    user.find(marker="prompt").type("Second")
    user.find(marker="prompt").trigger("keydown.enter.exact.prevent")
    await user.should_see("An answer is still being written in this chat")
    assert textarea(user).value == "Second"  # the question is kept for later
    assert len(model.calls) == 2


async def test_a_new_tab_opens_the_running_answer_of_a_closed_one(user: User) -> None:
    serve(RecordingFake(pieces=[f"word{i} " for i in range(40)], rate=40))
    await user.open("/")
    send(user, "Go on")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 3)
    await user.open("/")  # like a reload: the running answer is shown and keeps growing
    await wait_for(lambda: button_text(user) == "Stop")
    await wait_for(lambda: button_text(user) == "Send" and answers(user)[-1].endswith("word39 "))
    assert prompts(user) == ["Go on"]


async def test_renaming_a_conversation_that_is_not_open_keeps_what_a_reload_opens(user: User) -> None:
    serve(ScriptedFake(answers=["Answer."], rate=0))
    await user.open("/")
    await ask_and_wait(user, "Older chat")
    user.find(marker="new-chat").click()
    await wait_for(lambda: prompts(user) == [])
    await ask_and_wait(user, "Newer chat")
    click_nth(user, "conversation-menu", 1)  # the list is newest first: this is "Older chat"
    user.find(marker="rename").click()
    await user.should_see(marker="rename-input")
    user.find(marker="rename-input").clear().type("Renamed older chat")
    user.find(marker="rename-ok").click()
    await user.should_see("Renamed older chat")
    await user.open("/")
    assert prompts(user) == ["Newer chat"]


async def test_an_answer_ending_in_a_conversation_left_meanwhile_keeps_what_a_reload_opens(user: User) -> None:
    settings = Settings(model="test")
    long_then_short = ScriptedFake(answers=[" ".join(f"word{i}" for i in range(40)), "Short."], rate=40)
    chat = register_pages(ModelRegistry(settings, preset={"test": long_then_short}), settings)
    await user.open("/")
    send(user, "Slow one")
    await wait_for(lambda: button_text(user) == "Stop")
    user.find(marker="new-chat").click()
    await wait_for(lambda: prompts(user) == [])
    await ask_and_wait(user, "Fresh one")
    assert len(chat.board) == 1, "the slow answer should still be running"
    await wait_for(lambda: len(chat.board) == 0)
    await user.open("/")
    assert prompts(user) == ["Fresh one"]
