"""Any runnable as a model: a real LangGraph agent (examples/agent.py) with a fake tool-calling chat model and two
tools, an LCEL chain; its tool calls as steps in the stream, on the page, in `/ask`'s events and on the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from nicegui import ui
from nicegui.elements.mixins.text_element import TextElement
from nicegui.testing import User

from examples.agent import PlannedToolModel, agent_graph, build_agent, calculate
from llm.conversation import Conversation, Message
from llm.errors import ConfigError
from llm.factory import make_model
from llm.reasoning import Part, text_of
from llm.settings import Settings
from llm.steps import Step
from llm.streaming import MESSAGE_BREAK, AnswerStats, stream_parts
from tests.support.models import EchoFake, ask_in_process, parse_sse
from tests.support.page import answers, marked, send, serve, status_text, wait_for
from ui import answer_view
from ui.jobs import STEP_CUT, STEP_UNFINISHED

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many people live in Paris and Berlin together?"
FINAL = "Together that is **6,000,000** people."


async def collect(source: Any, prompt: str = QUESTION, stats: AnswerStats | None = None) -> list[Part]:
    return [part async for part in stream_parts(source, prompt, stats=stats)]


def steps_of(parts: list[Part]) -> list[Step]:
    return [part.step for part in parts if part.step is not None]


async def test_an_agents_tool_calls_are_steps_placed_between_its_messages() -> None:
    stats = AnswerStats()
    parts = await collect(agent_graph(PlannedToolModel(delay=0)), stats=stats)
    steps = steps_of(parts)
    # Each call twice: when it starts, when it ends; the answer's text is never in a step part.
    assert [(s.name, s.status) for s in steps].count(("city_facts", "running")) == 2
    ended = {s.input: s for s in steps if s.status == "done"}
    assert ended['{"city": "Paris"}'].output == "Paris: population 2,103,000, in France"
    assert ended['{"expression": "2103000 + 3897000"}'].output == "6,000,000"
    assert all(s.duration_s is not None and s.duration_s >= 0 for s in ended.values())
    answer = text_of(parts, "answer")
    preamble = PlannedToolModel().preamble
    assert answer.startswith(preamble + MESSAGE_BREAK + "Here is what my tools found")
    assert answer.endswith(FINAL)
    assert {s.at for s in steps} == {len(preamble)}  # after the first message's text, before the break
    # The answer's parts stream: many, in order, and the steps come between the two messages.
    kinds = [p.kind for p in parts]
    assert kinds.index("step") > 0 and kinds.count("answer") > 10
    assert (stats.steps, stats.failed_steps, stats.status) == (3, 0, "done")
    assert "3 tool calls" in stats.summary()


async def test_a_failing_tool_is_a_failed_step_and_the_agent_goes_on() -> None:
    @tool("city_facts")
    def broken_city_facts(city: str) -> str:
        """Always fails."""
        raise RuntimeError(f"the atlas for {city} is offline")

    stats = AnswerStats()
    parts = await collect(agent_graph(PlannedToolModel(delay=0), [broken_city_facts, calculate]), stats=stats)
    failed = [s for s in steps_of(parts) if s.status == "error"]
    assert len(failed) == 2 and "the atlas for Paris is offline" in " ".join(s.error or "" for s in failed)
    assert stats.failed_steps == 2 and stats.status == "done"
    assert text_of(parts, "answer").startswith("Let me look that up.")  # the model answered after the errors


async def test_an_lcel_chain_streams_its_models_tokens_and_a_plain_chain_its_output() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("one two three four")]))
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), MessagesPlaceholder("messages")])
    parts = await collect(prompt | model, "count")
    assert [p.text for p in parts] == ["one", " ", "two", " ", "three", " ", "four"]  # streamed, not whole
    # No chat model inside: the chain's final output is the answer.
    shout = RunnableLambda(lambda state: state["messages"][-1].content.upper())
    assert text_of(await collect(shout, "hello"), "answer") == "HELLO"


def test_py_specs_accept_runnables_and_factories_and_say_what_they_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_chains.py").write_text(
        "from langchain_core.runnables import RunnableLambda\n"
        "chain = RunnableLambda(lambda state: 'hi')\n"
        "def make():\n    return chain\n"
        "def needs(arg):\n    return chain\n"
        "number = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings()
    assert make_model("py:my_chains:chain", settings) is make_model("py:my_chains:make", settings)
    with pytest.raises(ConfigError, match="must take no arguments"):
        make_model("py:my_chains:needs", settings)
    with pytest.raises(ConfigError, match=r"is a int, not a LangChain chat model or runnable.*\{'messages'"):
        make_model("py:my_chains:number", settings)


async def test_sse_sends_steps_as_events_and_plain_text_only_the_answer() -> None:
    async with ask_in_process(build_agent_fast()) as client:
        sse = await client.post("/ask", json={"prompt": QUESTION}, headers={"Accept": "text/event-stream"})
        plain = await client.post("/ask", json={"prompt": QUESTION})
    events = parse_sse(sse.text)
    steps = [json.loads(data) for event, data in events if event == "step"]
    assert [(s["name"], s["status"]) for s in steps if s["status"] == "done"].count(("city_facts", "done")) == 2
    assert {"id", "name", "status", "input", "output", "error", "duration_s", "at"} <= set(steps[0])
    answer = "".join(data for event, data in events if event == "message")
    assert answer.endswith(FINAL)
    assert plain.text == answer and "city_facts" not in plain.text
    assert json.loads(events[-1][1])["steps"] == 3


def build_agent_fast() -> Any:
    return agent_graph(PlannedToolModel(delay=0))


def test_cli_prints_steps_to_stderr_with_steps_and_only_the_answer_to_stdout() -> None:
    command = [sys.executable, "main.py", "ask", "--model", "py:examples.agent:build_agent", QUESTION]
    env = {**os.environ, "RIVULET_AGENT_MODEL": ""}
    quiet = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    loud = subprocess.run([*command, "--steps"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert quiet.stdout == loud.stdout and quiet.stdout.rstrip().endswith(FINAL)
    assert quiet.stderr == ""
    lines = loud.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("[step] ") for line in lines)
    assert '[step] calculate {"expression": "2103000 + 3897000"} → 6,000,000 (' in loud.stderr  # (< 0.01 s)


# -- the page ---------------------------------------------------------------------------------------------
def cards(user: User) -> list[ui.expansion]:
    return marked(user, "step")  # type: ignore[return-value]


def card_texts(card: ui.element) -> str:
    return " ".join(e.text for e in card.descendants() if isinstance(e, TextElement) and e.visible)


def ended(user: User) -> bool:
    return marked(user, "send")[0].text == "Send" and bool(answers(user))  # type: ignore[attr-defined]


async def test_the_page_shows_each_step_as_a_card_while_the_answer_streams_around_them(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answer_view, "FLUSH_INTERVAL", 0.02)
    monkeypatch.setattr(answer_view, "STEADY_FLUSH_INTERVAL", 0.02)
    monkeypatch.setattr(answer_view, "TICK_INTERVAL", 0.01)
    serve(agent_graph(PlannedToolModel(delay=0.01)))
    await user.open("/")
    send(user, QUESTION)
    before: list[str] = []  # the answer's states before the first card
    after: list[str] = []  # its states once the cards are there

    def seen() -> bool:
        shown = answers(user)
        text = shown[-1] if shown else ""
        states = after if cards(user) else before
        if text and (not states or states[-1] != text):
            states.append(text)
        return ended(user)

    await wait_for(seen, limit=20)
    assert len(before) >= 3 and before[-1].startswith("Let me look")  # streamed before the tools ran
    assert len(after) >= 3 and after[-1].endswith(FINAL)  # and after them
    shown = cards(user)
    assert [c.text.split(" · ")[0] for c in shown] == ["city_facts", "city_facts", "calculate"]
    assert all(c.value is False for c in shown)  # closed once done
    assert "6,000,000" in card_texts(shown[2]) and "2103000 + 3897000" in card_texts(shown[2])
    assert "city_facts" not in answers(user)[-1]  # the cards are not in the answer's text
    assert "3 tool calls" in status_text(user)
    # A reload shows the saved steps in the same places.
    await user.open("/")
    await wait_for(lambda: len(cards(user)) == 3 and answers(user)[-1].endswith(FINAL))
    assert "Paris: population 2,103,000" in card_texts(cards(user)[0]) + card_texts(cards(user)[1])


async def test_stop_while_a_tool_runs_cancels_the_tool_and_marks_its_step(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    @tool("city_facts")
    async def slow_city_facts(city: str) -> str:
        """Waits for an atlas that never answers."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    serve(agent_graph(PlannedToolModel(delay=0, preamble=""), [slow_city_facts, calculate]))
    await user.open("/")
    send(user, "How many people live in Paris?")
    await wait_for(lambda: started.is_set() and bool(cards(user)))
    (card,) = cards(user)
    assert card.value is True and card.text == "city_facts · running…"  # open and live while it runs
    user.find("Stop").click()
    await asyncio.wait_for(cancelled.wait(), 1.0)  # the tool's task is cancelled too
    await wait_for(lambda: "Stopped" in status_text(user))
    await wait_for(lambda: card.text.startswith("city_facts · failed"))
    assert STEP_CUT in card_texts(card)


def test_steps_are_saved_exported_and_read_back() -> None:
    step = Step("r1", "search", "done", '{"q": "x"}', "3 hits", None, 0.25, at=5)
    message = Message("assistant", "Look.\n\nFound it.", steps=[step])
    conversation = Conversation(messages=[Message("user", "find x"), message])
    again = Conversation.from_dict(json.loads(conversation.to_json()))
    assert again.messages[1].steps == [step]
    assert 'Look.\n\n> Tool call: search {"q": "x"} → 3 hits (0.25 s)\n\nFound it.' in conversation.to_markdown()
    assert "steps" not in Message("assistant", "plain").to_dict()  # old readers see what they knew
    assert build_agent() is not None


async def test_the_retrieval_chain_example_answers_from_the_notes_it_found() -> None:
    from examples.retrieval_chain import build_chain

    model = EchoFake(rate=0)
    parts = await collect(build_chain(model), "What does POST /ask answer with?")
    (retrieval, found) = steps_of(parts)
    assert (retrieval.name, retrieval.status, found.status) == ("NoteRetriever", "running", "done")
    assert "POST /ask takes JSON {prompt}" in found.output and found.at == 0
    system = model.calls[-1][0].text
    assert "POST /ask takes JSON {prompt}" in system and "SmolLM2" not in system  # only the notes that match
    assert len([p for p in parts if p.kind == "answer"]) > 3  # the model's answer streamed


# When the run fails, closing its event stream throws GeneratorExit into the sibling tool that still waits, and
# langchain-core's tool wrapper awaits its error callback there: Python reports that as ignored (the tool ends).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_tool_still_running_when_the_run_fails_is_marked_unfinished(user: User) -> None:
    @tool("city_facts")
    async def flaky_city_facts(city: str) -> str:
        """Paris breaks the run; Berlin never answers."""
        if city == "Paris":
            raise RuntimeError("the atlas burned")
        await asyncio.Event().wait()
        return "never"

    serve(agent_graph(PlannedToolModel(delay=0, preamble=""), [flaky_city_facts, calculate], handle_errors=False))
    await user.open("/")
    send(user, QUESTION)
    await wait_for(lambda: "Incomplete" in status_text(user))
    texts = {card.text.split(" · ")[1]: card_texts(card) for card in cards(user)}
    assert set(texts) == {"failed"} and any(STEP_UNFINISHED in text for text in texts.values())
