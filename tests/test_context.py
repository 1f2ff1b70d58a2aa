"""Trimming a conversation to a context window: the system prompt and the newest turns are kept."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from llm.context import TEMPLATE_TOKENS_PER_MESSAGE, ContextWindow, fit_messages
from llm.errors import ProviderError
from llm.factory import ModelRegistry, context_window
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings


def words(text: str) -> int:
    return len(text.split())


def conversation(turns: int, size: int = 50) -> list:
    messages: list = [SystemMessage("Be brief.")]
    for i in range(turns):
        messages += [HumanMessage(f"q{i} " + "word " * size), AIMessage(f"a{i} " + "word " * size)]
    return [*messages, HumanMessage("the newest question")]


def test_a_conversation_that_fits_is_sent_whole() -> None:
    messages = conversation(3)
    assert fit_messages(messages, ContextWindow(10_000, reserve=100, count_text=words)) == (messages, 0)


def test_the_oldest_turns_go_first_and_the_system_prompt_stays() -> None:
    messages = conversation(10)  # each message: 51 words + the template's tokens
    window = ContextWindow(500, reserve=100, count_text=words)
    kept, dropped = fit_messages(messages, window)
    assert kept[0] == messages[0] and kept[-1] == messages[-1]
    assert isinstance(kept[1], HumanMessage)  # whole turns: the history starts with a question
    assert kept[1:] == messages[len(messages) - len(kept) + 1 :]  # the newest ones, in order
    assert dropped == len(messages) - len(kept) > 0
    assert window.count(kept) <= window.budget < window.count(messages)
    per_message = 51 + TEMPLATE_TOKENS_PER_MESSAGE
    assert window.budget - window.count(kept) < 2 * per_message  # no more left out than needed


def test_a_question_too_long_for_the_window_is_one_sentence() -> None:
    with pytest.raises(ProviderError, match="too long for the model's context window"):
        fit_messages([HumanMessage("word " * 1000)], ContextWindow(500, reserve=100, count_text=words))


def test_without_a_tokenizer_the_approximate_count_is_used() -> None:
    kept, dropped = fit_messages(conversation(40, size=100), ContextWindow(2000, reserve=500))
    assert dropped > 0 and kept[-1].text == "the newest question"


def test_other_providers_trim_only_with_context_tokens() -> None:
    model = FakeStreamingChatModel()
    assert context_window(model, Settings()) is None
    window = context_window(model, Settings(context_tokens=8000, max_tokens=1000))
    assert window is not None and window.tokens == 8000 and window.reserve == 1000


def test_the_local_model_brings_its_own_window(settings: Settings) -> None:
    window = ModelRegistry(Settings(parallel=3, context_tokens=2048)).context("local")
    assert window is not None and window.tokens == 2048 and window.count_text is not None
