"""Reasoning, wherever a provider puts it, becomes typed parts and never lands in the answer text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_openai import ChatOpenAI

from llm.embedded import EmbeddedChatModel
from llm.factory import make_model
from llm.openai_reasoning import ReasoningChatOpenAI, reasoning_of
from llm.reasoning import Part, PartSplitter, merge_parts, split_stream, text_of
from llm.settings import Settings
from llm.streaming import stream_answer
from tests.support.fake_openai import ANSWER, REASONING, REASONING_FORMS, FakeOpenAIServer

THINK_TEXT = "\n  <think>\n Let me see: 6 × 7.\n\n</think>\n\nThe answer is **42**."
THINK_PARTS = [Part("reasoning", "Let me see: 6 × 7."), Part("answer", "The answer is **42**.")]


def split(pieces: list[str], splitter: PartSplitter | None = None) -> list[Part]:
    """Feed `pieces` as content chunks, then close; the parts merged."""
    splitter = splitter or PartSplitter()
    parts = [part for piece in pieces for part in splitter.feed(AIMessageChunk(content=piece))]
    return merge_parts(parts + splitter.close())


def every_split(text: str) -> list[list[str]]:
    """`text` in one piece, cut once and twice at every position, and one character per piece."""
    cuts = [[text]] + [[text[:i], text[i:]] for i in range(1, len(text))]
    cuts += [[text[:i], text[i:j], text[j:]] for i in range(1, len(text)) for j in range(i + 1, len(text))]
    return [*cuts, list(text)]


# --- inline tags --------------------------------------------------------------------------------------------


def test_every_split_of_a_think_text_gives_the_same_parts() -> None:
    for pieces in every_split(THINK_TEXT):
        assert split(pieces) == THINK_PARTS, pieces


def test_a_partial_tag_is_held_until_the_next_chunk_decides() -> None:
    splitter = PartSplitter()
    assert splitter.feed(AIMessageChunk(content=" <thi")) == []
    assert splitter.feed(AIMessageChunk(content="nk>Hmm, ")) == [Part("reasoning", "Hmm,")]
    assert splitter.in_reasoning
    assert splitter.feed(AIMessageChunk(content="fine.</th")) == [Part("reasoning", " fine.")]
    assert splitter.feed(AIMessageChunk(content="ink> Yes")) == [Part("answer", "Yes")]
    assert not splitter.in_reasoning
    assert splitter.close() == []


def test_an_unclosed_think_is_all_reasoning_at_every_split() -> None:
    text = "<think>Still thinking about </thi"
    for pieces in every_split(text):
        assert split(pieces) == [Part("reasoning", "Still thinking about </thi")], pieces
    splitter = PartSplitter()
    splitter.feed(AIMessageChunk(content=text))
    assert splitter.in_reasoning


def test_text_without_tags_is_the_answer_verbatim_at_every_split() -> None:
    for text in ["    indented code, then text", "<thinking is fun>", "<", "  ", "Say <think> and </think>."]:
        for pieces in every_split(text):
            assert split(pieces) == [Part("answer", text)], pieces


def test_a_tag_after_answer_text_is_answer_text() -> None:
    assert split(["The tag ", "<think>", " is literal."]) == [Part("answer", "The tag <think> is literal.")]
    assert split(["<think>a</think>b <think>c</think>"]) == [
        Part("reasoning", "a"),
        Part("answer", "b <think>c</think>"),
    ]


def test_other_tags_can_be_configured() -> None:
    splitter = PartSplitter(tags=[("<thinking>", "</thinking>"), ("<think>", "</think>")])
    assert split(["<thin", "king>x</thinking>y"], splitter) == [Part("reasoning", "x"), Part("answer", "y")]
    assert split(["<think>x</think>y"], splitter) == [Part("reasoning", "x"), Part("answer", "y")]


def test_the_splitter_is_ready_for_a_new_message_after_close() -> None:
    splitter = PartSplitter()
    assert split(["<think>unclosed"], splitter) == [Part("reasoning", "unclosed")]
    assert split(["<think>a</think>b"], splitter) == [Part("reasoning", "a"), Part("answer", "b")]


# --- content blocks and additional_kwargs ----------------------------------------------------------------------


def test_anthropic_thinking_blocks_and_text_blocks() -> None:
    chunks = [
        AIMessageChunk(content=[{"type": "thinking", "thinking": "Let me ", "index": 0}]),
        AIMessageChunk(content=[{"type": "thinking", "thinking": "think.", "index": 0}]),
        AIMessageChunk(content=[{"type": "thinking", "signature": "abc=", "index": 0}]),  # no text
        AIMessageChunk(content=[{"type": "redacted_thinking", "data": "xyz", "index": 1}]),
        AIMessageChunk(content=[{"type": "text", "text": "Hello", "index": 2}]),
        AIMessageChunk(content=[{"type": "text", "text": " world.", "index": 2}]),
    ]
    splitter = PartSplitter()
    parts = [part for chunk in chunks for part in splitter.feed(chunk)] + splitter.close()
    assert merge_parts(parts) == [Part("reasoning", "Let me think."), Part("answer", "Hello world.")]


def test_reasoning_blocks_with_text_or_summary() -> None:
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": "First idea. "},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "A summary."}]},
            {"type": "tool_call", "id": "1", "name": "search", "args": {}},  # a later "step"; ignored for now
            "Plain string block, ",
            {"type": "text", "text": "then a text block."},
        ]
    )
    assert PartSplitter().feed(message) == [
        Part("reasoning", "First idea. A summary."),
        Part("answer", "Plain string block, then a text block."),
    ]


def test_reasoning_content_in_additional_kwargs() -> None:
    """ChatOllama(reasoning=True) and ChatDeepSeek: reasoning chunks with empty content, then content."""
    splitter = PartSplitter()
    parts: list[Part] = []
    for word in ["Okay, ", "the user ", "says hi."]:
        parts += splitter.feed(AIMessageChunk(content="", additional_kwargs={"reasoning_content": word}))
    parts += splitter.feed(AIMessageChunk(content="Hi!", additional_kwargs={"reasoning_content": " Done."}))
    parts += splitter.close()
    assert parts == [
        Part("reasoning", "Okay, "),
        Part("reasoning", "the user "),
        Part("reasoning", "says hi."),
        Part("reasoning", " Done."),
        Part("answer", "Hi!"),
    ]
    assert text_of(parts, "reasoning") == "Okay, the user says hi. Done."


def test_reasoning_in_blocks_and_in_additional_kwargs_is_read_once() -> None:
    chunk = AIMessageChunk(
        content=[{"type": "reasoning", "reasoning": "Once."}, {"type": "text", "text": "Answer."}],
        additional_kwargs={"reasoning_content": "Once."},
    )
    assert PartSplitter().feed(chunk) == [Part("reasoning", "Once."), Part("answer", "Answer.")]


async def test_split_stream_yields_parts_as_they_become_certain() -> None:
    async def chunks() -> AsyncIterator[BaseMessage]:
        for piece in ["<think>", "a", "b</th", "ink>c", "d"]:
            yield AIMessageChunk(content=piece)

    parts = [part async for part in split_stream(chunks())]
    assert parts == [Part("reasoning", "a"), Part("reasoning", "b"), Part("answer", "c"), Part("answer", "d")]


# --- the OpenAI-compatible path, over real HTTP ------------------------------------------------------------------


def test_reasoning_fields_of_a_delta() -> None:
    assert reasoning_of({"reasoning_content": "a", "reasoning": "a"}) == "a"  # both sent: taken once
    assert reasoning_of({"reasoning_content": None, "reasoning": "b"}) == "b"
    assert reasoning_of({"reasoning_content": "", "content": "x"}) == ""
    assert reasoning_of(None) == ""


@pytest.mark.parametrize("name", REASONING_FORMS)
async def test_each_provider_form_streams_reasoning_apart_from_the_answer(
    fake_openai: FakeOpenAIServer, name: str
) -> None:
    form = REASONING_FORMS[name]
    model = make_model(f"openai:{name}", Settings(base_url=fake_openai.base_url, idle_timeout=5))
    assert isinstance(model, ReasoningChatOpenAI)
    splitter = PartSplitter()
    per_chunk: list[list[Part]] = []
    full: AIMessageChunk | None = None
    async for chunk in model.astream("Say something."):
        assert isinstance(chunk, AIMessageChunk)
        full = chunk if full is None else full + chunk
        per_chunk.append(splitter.feed(chunk))
    per_chunk.append(splitter.close())
    parts = [part for chunk_parts in per_chunk for part in chunk_parts]

    assert text_of(parts, "answer") == form.answer
    assert text_of(parts, "reasoning") == form.reasoning
    assert REASONING[:20] not in text_of(parts, "answer") and "think>" not in text_of(parts, "answer")
    # Live, not only at the end: many chunks carry reasoning, and (when there is one) the answer, in that order.
    reasoning_chunks = [i for i, ps in enumerate(per_chunk) if any(p.kind == "reasoning" for p in ps)]
    answer_chunks = [i for i, ps in enumerate(per_chunk) if any(p.kind == "answer" for p in ps)]
    assert len(reasoning_chunks) >= 10
    assert len(answer_chunks) >= (10 if form.answer else 0)
    assert not answer_chunks or max(reasoning_chunks) < min(answer_chunks)
    assert [p.kind for p in merge_parts(parts)] == ["reasoning", "answer"] if form.answer else ["reasoning"]
    assert full is not None and full.usage_metadata  # the usage chunk still arrives
    if name.startswith("reasoning-"):  # the delta fields: kept whole in the merged message too
        assert full.additional_kwargs["reasoning_content"] == REASONING
        assert full.content == ANSWER


@pytest.mark.parametrize("name", ["reasoning-content", "reasoning-field"])
async def test_plain_chat_openai_drops_the_delta_fields(fake_openai: FakeOpenAIServer, name: str) -> None:
    """Why the subclass exists: if this fails, langchain-openai keeps them itself and it can go."""
    model = ChatOpenAI(model=name, base_url=fake_openai.base_url, api_key="x", max_retries=0, streaming=True)
    full: AIMessageChunk | None = None
    async for chunk in model.astream("Say something."):
        full = chunk if full is None else full + chunk
    assert full is not None and full.content == ANSWER
    assert "reasoning_content" not in full.additional_kwargs


@pytest.mark.parametrize("name", ["reasoning-content", "reasoning-field"])
async def test_stream_answer_still_yields_only_the_answer(fake_openai: FakeOpenAIServer, name: str) -> None:
    model = make_model(f"openai:{name}", Settings(base_url=fake_openai.base_url, idle_timeout=5))
    states: list[str] = []
    async for text in stream_answer(model, "Say something."):
        states.append((states[-1] if states else "") + text)
    assert states[-1] == ANSWER and len(states) >= 10


def test_non_streaming_results_keep_the_reasoning_too() -> None:
    model = ReasoningChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="x")
    response = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "42.", "reasoning": "6 × 7."},
            }
        ],
    }
    message = model._create_chat_result(response).generations[0].message
    assert message.content == "42." and message.additional_kwargs["reasoning_content"] == "6 × 7."
    assert PartSplitter().feed(message) == [Part("reasoning", "6 × 7."), Part("answer", "42.")]


async def test_the_embedded_engine_client_keeps_reasoning(fake_openai: FakeOpenAIServer, gguf_path: str) -> None:
    """The local engine's client is the same subclass (llama.cpp server sends `reasoning_content`)."""
    model = EmbeddedChatModel(model_path=gguf_path)
    client = model._client(fake_openai.base_url)  # the engine's client, pointed at the fake server
    assert isinstance(client, ReasoningChatOpenAI)
    client = client.model_copy(update={"model_name": "reasoning-content"})
    splitter = PartSplitter()
    parts = [part async for chunk in client._astream([]) for part in splitter.feed(chunk.message)]
    assert text_of(parts, "reasoning") == REASONING and text_of(parts, "answer") == ANSWER
