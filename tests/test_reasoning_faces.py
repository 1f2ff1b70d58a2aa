"""Reasoning in its place on every face but the page: `stream_parts`, `/ask` (plain text and SSE), the SSE
client behind `ask --url`, and `main.py ask --reasoning`. Never inside the answer text."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys

import pytest

from api.client import stream_from_server, stream_parts_from_server
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.reasoning import Part, text_of
from llm.settings import Settings
from llm.streaming import AnswerStats, stream_answer, stream_parts
from tests.support.fake_openai import REASONING, REASONING_FORMS, FakeOpenAIServer
from tests.support.models import ask_in_process, parse_sse
from tests.support.servers import MAIN, cli_env, run_api, run_main

SSE = {"Accept": "text/event-stream"}


def openai_model(server: FakeOpenAIServer, name: str) -> object:
    return make_model(f"openai:{name}", Settings(base_url=server.base_url, idle_timeout=5))


def cli_stdout(answer: str) -> str:
    """What `main.py ask` prints for `answer`: the answer and a line end (none for an empty answer)."""
    return answer + "\n" if answer and not answer.endswith("\n") else answer


def assert_clean(answer: str) -> None:
    assert REASONING[:20] not in answer and "think>" not in answer and "<t" not in answer


# --- stream_parts: the one loop ----------------------------------------------------------------------------------

THINK_PIECES = [" <thi", "nk>Let ", "me see.", "</think>", "\n\nThe ", "answer."]


async def test_stream_parts_yields_reasoning_then_answer_as_they_come_with_live_figures() -> None:
    model = FakeStreamingChatModel(pieces=THINK_PIECES, rate=50)  # 20 ms between chunks
    stats = AnswerStats()
    seen: list[tuple[Part, int, int, bool, float | None]] = []
    async for part in stream_parts(model, "hi", stats=stats):
        seen.append((part, stats.chunks, stats.reasoning_chars, stats.thinking, stats.reasoning_s))
        assert stats.status == "streaming"
    assert [s[0] for s in seen] == [
        Part("reasoning", "Let"),
        Part("reasoning", " me see."),
        Part("answer", "The "),
        Part("answer", "answer."),
    ]
    # While it reasons: no answer chunk counted, the reasoning's figures grow, its time runs.
    assert [s[1:4] for s in seen] == [(0, 3, True), (0, 11, True), (1, 11, False), (2, 11, False)]
    assert seen[1][4] is not None and seen[1][4] > 0
    # Once the answer goes on, the reasoning time is fixed: it ended when the answer started.
    assert seen[2][4] == seen[3][4] == stats.reasoning_s
    assert stats.reasoning_ended == stats.first_chunk_at
    assert stats.time_to_first_chunk is not None and stats.reasoning_s is not None
    assert stats.time_to_first_chunk >= stats.reasoning_s > 0.01
    figures = stats.to_dict()
    assert (figures["status"], figures["chunks"], figures["chars"]) == ("done", 2, len("The answer."))
    assert (figures["reasoning_chars"], figures["reasoning_s"]) == (11, round(stats.reasoning_s, 4))


async def test_stream_answer_is_the_answer_only_view() -> None:
    stats = AnswerStats()
    chunks = [c async for c in stream_answer(FakeStreamingChatModel(pieces=THINK_PIECES, rate=0), "hi", stats=stats)]
    assert chunks == ["The ", "answer."]
    assert (stats.status, stats.chunks, stats.reasoning_chars) == ("done", 2, 11)


async def test_figures_without_reasoning_keep_their_keys() -> None:
    stats = AnswerStats()
    assert [c async for c in stream_answer(FakeStreamingChatModel(pieces=["a ", "b"], rate=0), "hi", stats=stats)]
    assert "reasoning_chars" not in stats.to_dict() and "reasoning_s" not in stats.to_dict()
    assert stats.reasoning_s is None and not stats.thinking


async def test_stopping_while_it_thinks_ends_the_reasoning_time() -> None:
    stats = AnswerStats()
    parts = stream_parts(FakeStreamingChatModel(pieces=["<think>a ", "b ", "c ", "d"], rate=50), "hi", stats=stats)
    async with contextlib.aclosing(parts):
        async for _ in parts:
            if stats.reasoning_chars >= 3:
                break
    assert stats.status == "stopped" and not stats.thinking
    assert stats.reasoning_ended == stats.ended and stats.to_dict()["reasoning_s"] is not None


@pytest.mark.parametrize("name", REASONING_FORMS)
async def test_stream_parts_over_http_for_each_form(fake_openai: FakeOpenAIServer, name: str) -> None:
    form = REASONING_FORMS[name]
    stats = AnswerStats()
    parts = [part async for part in stream_parts(openai_model(fake_openai, name), "hi", stats=stats)]  # type: ignore[arg-type]
    assert text_of(parts, "reasoning") == form.reasoning and text_of(parts, "answer") == form.answer
    assert (stats.reasoning_chars, stats.chars) == (len(form.reasoning), len(form.answer))
    assert stats.output_tokens  # the usage chunk still counts


# --- POST /ask ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REASONING_FORMS)
async def test_ask_plain_text_is_exactly_the_answer(fake_openai: FakeOpenAIServer, name: str) -> None:
    async with ask_in_process(openai_model(fake_openai, name), f"openai:{name}", base_url=fake_openai.base_url) as c:  # type: ignore[arg-type]
        response = await c.post("/ask", json={"prompt": "hi"})
    assert response.status_code == 200
    assert response.text == REASONING_FORMS[name].answer


@pytest.mark.parametrize("name", REASONING_FORMS)
async def test_ask_sse_sends_reasoning_events_before_and_apart_from_the_answer(
    fake_openai: FakeOpenAIServer, name: str
) -> None:
    form = REASONING_FORMS[name]
    async with ask_in_process(openai_model(fake_openai, name), f"openai:{name}", base_url=fake_openai.base_url) as c:  # type: ignore[arg-type]
        response = await c.post("/ask", json={"prompt": "hi"}, headers=SSE)
    assert response.status_code == 200
    events = parse_sse(response.text)
    kinds = [event for event, _ in events]
    assert set(kinds) <= {"reasoning", "message", "done"} and kinds[-1] == "done"
    reasoning = [data for event, data in events if event == "reasoning"]
    answer = [data for event, data in events if event == "message"]
    assert "".join(reasoning) == form.reasoning
    assert len(reasoning) >= 10  # streamed in pieces, not in one lump at the end
    assert "".join(answer) == form.answer
    assert_clean("".join(answer))
    # Every form sends its reasoning first: all of it comes before the first data event.
    first_data = kinds.index("message") if "message" in kinds else len(kinds) - 1
    assert kinds[:first_data] == ["reasoning"] * first_data == ["reasoning"] * len(reasoning)
    figures = json.loads(events[-1][1])
    assert (figures["chars"], figures["chunks"], figures["status"]) == (len(form.answer), len(answer), "done")
    assert figures["reasoning_chars"] == len(form.reasoning)
    assert 0 < figures["reasoning_s"] <= figures["duration_s"]


async def test_multi_line_reasoning_is_one_event_of_several_data_lines() -> None:
    model = FakeStreamingChatModel(pieces=["<think>line one\r\nline two", "</think>", "Answer"], rate=0)
    async with ask_in_process(model) as client:
        response = await client.post("/ask", json={"prompt": "hi"}, headers=SSE)
        plain = await client.post("/ask", json={"prompt": "hi"})
    assert response.text.startswith("event: reasoning\ndata: line one\ndata: line two\n\n")
    assert parse_sse(response.text)[:2] == [("reasoning", "line one\nline two"), ("message", "Answer")]
    assert plain.text == "Answer"


async def test_done_figures_have_no_reasoning_keys_without_reasoning() -> None:
    async with ask_in_process(FakeStreamingChatModel(pieces=["a ", "b"], rate=0)) as client:
        response = await client.post("/ask", json={"prompt": "hi"}, headers=SSE)
    events = parse_sse(response.text)
    assert [e for e, _ in events] == ["message", "message", "done"]
    assert not {"reasoning_chars", "reasoning_s"} & set(json.loads(events[-1][1]))


# --- the SSE client (ask --url) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reasoning-content", "think-split"])
async def test_the_client_passes_reasoning_on_apart_and_the_answer_view_drops_it(
    fake_openai: FakeOpenAIServer, name: str
) -> None:
    form = REASONING_FORMS[name]
    with run_api(openai_model(fake_openai, name)) as url:  # type: ignore[arg-type]
        parts = [part async for part in stream_parts_from_server(url, "hi")]
        chunks = [chunk async for chunk in stream_from_server(url, "hi")]
    assert text_of(parts, "reasoning") == form.reasoning and text_of(parts, "answer") == form.answer
    assert parts[0].kind == "reasoning" and len([p for p in parts if p.kind == "reasoning"]) >= 10
    assert "".join(chunks) == form.answer


# --- main.py ask -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REASONING_FORMS)
def test_cli_prints_the_answer_and_the_reasoning_only_with_the_flag(fake_openai: FakeOpenAIServer, name: str) -> None:
    form = REASONING_FORMS[name]
    args = ("ask", "--model", f"openai:{name}", "--base-url", fake_openai.base_url, "hi")
    quiet = run_main(*args)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, cli_stdout(form.answer), "")
    shown = run_main(*args, "--reasoning")
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, cli_stdout(form.answer), form.reasoning + "\n")


@pytest.mark.parametrize("name", REASONING_FORMS)
def test_cli_reasoning_through_a_server_at_url(fake_openai: FakeOpenAIServer, name: str) -> None:
    form = REASONING_FORMS[name]
    with run_api(openai_model(fake_openai, name)) as url:  # type: ignore[arg-type]
        shown = run_main("ask", "--url", url, "--reasoning", "hi")
        quiet = run_main("ask", "--url", url, "hi")
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, cli_stdout(form.answer), form.reasoning + "\n")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, cli_stdout(form.answer), "")


def test_cli_reasoning_is_dimmed_on_a_terminal(fake_openai: FakeOpenAIServer) -> None:
    form = REASONING_FORMS["reasoning-content"]
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, MAIN, "ask", "--model", "openai:reasoning-content", "--base-url", fake_openai.base_url,
             "--reasoning", "hi"],
            stdout=subprocess.PIPE, stderr=follower, text=True, env=cli_env(), timeout=60,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        raw = b""
        with contextlib.suppress(OSError):  # EIO once everything written is read
            while chunk := os.read(leader, 65536):
                raw += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    err = raw.decode().replace("\r\n", "\n")
    assert result.returncode == 0 and result.stdout == cli_stdout(form.answer)  # stdout is a pipe: no colours
    assert err.startswith("\x1b[2m") and err.endswith("\x1b[0m\n")
    assert err.count("\x1b[2m") == err.count("\x1b[0m") >= 10  # each piece dimmed and reset as it streams
    assert err.replace("\x1b[2m", "").replace("\x1b[0m", "") == form.reasoning + "\n"


def test_help_lists_the_reasoning_flag() -> None:
    assert "--reasoning" in run_main("ask", "--help").stdout
