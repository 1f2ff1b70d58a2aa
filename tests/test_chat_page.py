"""The chat page, driven through NiceGUI's simulated `user`: streaming, history, isolation, stop, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui.testing import User

from llm.factory import ModelRegistry
from llm.settings import Settings
from llm.signals import Signal
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.models import RecordingFake, SignallingFake
from tests.support.page import answers, marked, prompts, send, serve, status_text, textarea, wait_for
from ui.chat_page import register_pages

PIECES = ["Rivers ", "carry ", "water ", "to ", "the ", "sea, ", "slowly ", "and ", "steadily."]
FINAL = "".join(PIECES)


async def test_answer_grows_in_steps_then_shows_the_exact_text(user: User) -> None:
    serve(RecordingFake(pieces=PIECES, rate=12))
    await user.open("/")
    send(user, "Tell me about rivers")
    await user.should_see("Tell me about rivers")
    states: list[str] = []
    await wait_for(lambda: bool(answers(user)))

    def observe() -> bool:
        text = answers(user)[-1]
        if not states or states[-1] != text:
            states.append(text)
        return text == FINAL and "9 chunks" in status_text(user)

    await wait_for(observe)
    growing = [s for s in states if s and s != FINAL]
    assert len(growing) >= 3, f"expected intermediate states, saw {states}"
    assert all(FINAL.startswith(s) for s in states)
    assert [len(s) for s in states] == sorted(len(s) for s in states)
    await user.should_see("Send")


async def test_second_turn_sends_the_first_as_history(user: User) -> None:
    model = RecordingFake(pieces=["First ", "answer."], rate=0)
    serve(model, system_prompt="Be brief.")
    await user.open("/")
    send(user, "one")
    await wait_for(lambda: answers(user) == ["First answer."] and len(model.calls) == 1)
    await user.should_see("Send")
    send(user, "two")
    await wait_for(lambda: len(model.calls) == 2 and answers(user)[-1] == "First answer.")
    texts = [(m.type, m.text) for m in model.calls[1]]
    assert texts == [("system", "Be brief."), ("human", "one"), ("ai", "First answer."), ("human", "two")]


async def test_two_users_are_isolated(create_user: Callable[[], User]) -> None:
    serve(RecordingFake(pieces=["Hi ", "there."], rate=0))
    alice, bob = create_user(), create_user()
    await alice.open("/")
    await bob.open("/")
    send(alice, "question from alice")
    await wait_for(lambda: answers(alice) == ["Hi there."])
    await alice.should_see("question from alice")
    await bob.should_not_see("question from alice")
    assert answers(bob) == []


async def test_whitespace_prompt_sends_nothing(user: User) -> None:
    model = RecordingFake(pieces=["x"], rate=0)
    serve(model)
    await user.open("/")
    send(user, "   \n  ")  # Enter: the page's handler is queued as a task
    user.find(marker="send").click()  # and the button's

    async def ask_for_real() -> None:
        textarea(user).value = "a real question"
        user.find(marker="send").click()

    # Queued after the two handlers, this runs once they have looked at the blank prompt (they do not wait).
    await asyncio.create_task(ask_for_real())
    await wait_for(lambda: answers(user) == ["x"])
    assert prompts(user) == ["a real question"]
    assert [[m.text for m in call if m.type == "human"] for call in model.calls] == [["a real question"]]


async def test_stop_keeps_the_partial_and_gives_the_input_back(user: User) -> None:
    model = RecordingFake(chunks=400, rate=40)
    chat = serve(model)
    await user.open("/")
    send(user, "a long one")
    await wait_for(lambda: bool(answers(user)) and len(answers(user)[-1].split()) >= 4)
    user.find("Stop").click()
    await user.should_see("Send")
    await wait_for(lambda: "Stopped" in status_text(user))
    # The model's stream was closed before its end, and the answer was saved as it stood: nothing can add to it.
    await wait_for(lambda: model.ends == ["closed"] and len(chat.board) == 0)
    partial = answers(user)[-1]
    assert partial and len(partial.split()) < 400
    send(user, "next")  # the input works again
    await user.should_see("next")
    await user.open("/")  # what was kept: the partial, marked stopped (the new answer goes on)
    await wait_for(lambda: len(answers(user)) == 2)
    assert answers(user)[0] == partial
    assert marked(user, "answer-status")[0].text.startswith("Stopped")  # type: ignore[attr-defined]
    user.find("Stop").click()
    await wait_for(lambda: model.ends == ["closed", "closed"])


async def test_failing_provider_shows_a_readable_message(user: User, fake_openai: FakeOpenAIServer) -> None:
    settings = Settings(model="openai:cut", base_url=fake_openai.base_url)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "hello")
    await user.should_see("broke off in the middle of the answer", retries=100)
    assert answers(user)[-1] == "Streaming works: every "  # the partial stays
    assert "Incomplete" in status_text(user)


async def test_error_before_any_text_returns_the_prompt(user: User, fake_openai: FakeOpenAIServer) -> None:
    settings = Settings(model="openai:auth", base_url=fake_openai.base_url)
    register_pages(ModelRegistry(settings), settings)
    await user.open("/")
    send(user, "my question")
    await user.should_see("refused the API key", retries=100)
    assert user.find(marker="prompt").elements.pop().value == "my question"


async def test_the_page_says_the_local_model_is_loading_then_streams(user: User) -> None:
    model = SignallingFake(pieces=PIECES, rate=50, signal=Signal.LOADING)
    serve(model)
    await user.open("/")
    send(user, "Tell me about rivers")
    await user.should_see("Loading the local model…")
    assert answers(user) == [""]
    model.release()
    await wait_for(lambda: answers(user) == [FINAL])
    await user.should_not_see("Loading the local model…")


async def test_the_page_says_an_answer_waits_only_when_every_slot_is_busy(user: User) -> None:
    model = SignallingFake(pieces=PIECES, rate=50, signal=Signal.WAITING)
    serve(model)
    await user.open("/")
    send(user, "Tell me about rivers")
    await user.should_see("every slot is answering another conversation")
    model.release()
    await wait_for(lambda: answers(user) == [FINAL])


async def test_the_figures_say_how_many_earlier_messages_were_left_out(user: User) -> None:
    model = RecordingFake(pieces=["Short ", "answer. ", "word " * 300], rate=0)
    serve(model, context_tokens=600, max_tokens=100)
    await user.open("/")
    for question in ("one", "two", "three"):
        send(user, question)
        await wait_for(lambda q=question: len(model.calls) == ["one", "two", "three"].index(q) + 1)
        await user.should_see("Send")
    await wait_for(lambda: "left out to fit the model's context" in status_text(user))
    sent = [m.text for m in model.calls[-1] if m.type == "human"]
    assert sent[-1] == "three" and "one" not in sent
