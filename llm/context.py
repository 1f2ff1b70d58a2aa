"""Fit a conversation into a model's context window: keep the system prompt and the newest turns.

The budget is the window minus the tokens reserved for the answer. Messages are counted
with the model's own tokenizer where it has one (the embedded engine), else with
langchain-core's approximate count. Trimming uses `langchain_core.messages.trim_messages`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately

from llm.errors import ProviderError

#: Tokens a chat template adds around each message (role markers, separators), rounded up.
TEMPLATE_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class ContextWindow:
    """A model's context size and how to count a message's tokens."""

    tokens: int
    reserve: int = 512  # tokens kept free for the answer
    count_text: Callable[[str], int] | None = None  # None: langchain-core's approximate count

    @property
    def budget(self) -> int:
        """Tokens the prompt, history and system prompt may take."""
        return max(self.tokens - self.reserve, self.tokens // 4)

    def count(self, messages: Sequence[BaseMessage]) -> int:
        if self.count_text is None:
            return count_tokens_approximately(messages)
        return sum(self.count_text(m.text) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)


def surely_fits(messages: Sequence[BaseMessage], window: ContextWindow) -> bool:
    """True when the messages fit without counting: no token is shorter than one UTF-8 byte."""
    size = sum(len(m.text.encode("utf-8")) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
    return size <= window.budget


def fit_messages(messages: list[BaseMessage], window: ContextWindow) -> tuple[list[BaseMessage], int]:
    """The newest messages that fit (the system prompt always kept), and how many were left out.

    Raises `ProviderError` when the newest prompt alone (with the system prompt) does not fit.
    """
    if surely_fits(messages, window):
        return messages, 0
    kept = trim_messages(
        messages,
        max_tokens=window.budget,
        token_counter=window.count,
        strategy="last",
        include_system=True,
        start_on="human",
    )
    if not kept or not isinstance(kept[-1], HumanMessage) or kept[-1].text != messages[-1].text:
        raise ProviderError(
            f"The question is too long for the model's context window ({window.tokens:,} tokens, "
            f"{window.reserve:,} of them kept for the answer). Shorten it, or raise --context-tokens "
            "if the model can hold more.",
            kind="too_long",
        )
    dropped = sum(1 for m in messages if not isinstance(m, SystemMessage)) - sum(
        1 for m in kept if not isinstance(m, SystemMessage)
    )
    return kept, dropped
