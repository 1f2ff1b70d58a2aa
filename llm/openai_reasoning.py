"""`ChatOpenAI` that keeps the reasoning OpenAI-compatible servers send beside the answer.

DeepSeek, llama.cpp server and older vLLM stream reasoning in the delta field `reasoning_content`; newer
vLLM and OpenRouter in `reasoning`. `ChatOpenAI` (langchain-openai 1.7) targets the official OpenAI API
only and drops both: it has no option to keep them, and its own docs send users to provider packages.

Why a subclass, not an integration: `langchain-deepseek`'s `ChatDeepSeek` does keep both fields (in
`additional_kwargs["reasoning_content"]`), but it is a DeepSeek client: its own constructor (`api_base`,
`DEEPSEEK_API_KEY`, a key required for its default URL), not a `ChatOpenAI`, and it reports itself as
DeepSeek to tracing. `langchain-openrouter` speaks to OpenRouter only. Rivulet needs one client for every
OpenAI-compatible server and the embedded engine, with `ChatOpenAI`'s arguments unchanged, so this is
`ChatOpenAI` plus the same few lines `ChatDeepSeek` has: it overrides the chunk-conversion hook
(`_convert_chunk_to_generation_chunk`, the one partner packages override) and the non-streaming result,
and puts the text where `ChatDeepSeek` and `ChatOllama(reasoning=True)` put it, so that
`llm.reasoning.PartSplitter` reads all three the same way. When a server sends both fields (vLLM did
for a while), `reasoning_content` is taken and `reasoning` ignored, so nothing is doubled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

#: The delta/message fields that carry reasoning, in order of preference.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def reasoning_of(delta: Mapping[str, Any] | None) -> str:
    """The reasoning text of an OpenAI-style delta or message ("" when there is none)."""
    for name in REASONING_FIELDS:
        value = (delta or {}).get(name)
        if isinstance(value, str) and value:
            return value
    return ""


class ReasoningChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` that copies `reasoning_content`/`reasoning` into `additional_kwargs["reasoning_content"]`."""

    def _convert_chunk_to_generation_chunk(
        self,
        chunk: dict,
        default_chunk_class: type,
        base_generation_info: dict | None,
    ) -> ChatGenerationChunk | None:
        generation = super()._convert_chunk_to_generation_chunk(chunk, default_chunk_class, base_generation_info)
        choices = chunk.get("choices") or chunk.get("chunk", {}).get("choices") or [{}]
        text = reasoning_of(choices[0].get("delta"))
        if text and generation is not None and isinstance(generation.message, AIMessageChunk):
            generation.message.additional_kwargs["reasoning_content"] = text
        return generation

    def _create_chat_result(self, response: dict | openai.BaseModel, generation_info: dict | None = None) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        data = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(result.generations, data.get("choices") or [], strict=False):
            if isinstance(generation.message, AIMessage) and (text := reasoning_of(choice.get("message"))):
                generation.message.additional_kwargs["reasoning_content"] = text
        return result
