"""Any LangChain runnable as a source of answers: an LCEL chain, a LangGraph graph, `create_agent`'s result.

The contract (README "Your own chain or agent"): the runnable receives `{"messages": [...]}`, the
history and the new prompt as LangChain messages (LangGraph's convention); a runnable that wraps a chat
model directly (`model.with_retry()`, `model.bind(...)`) receives the message list itself. Rivulet streams
it with `astream_events(version="v2")`:

- the tokens of its chat models (`on_chat_model_stream`) make the answer, one message after another;
  a model run tagged `nostream` (LangGraph's convention for internal calls) is left out;
- each tool call (`on_tool_start` … `on_tool_end` / `on_tool_error`) becomes a `Step`, and so does each
  retriever call (its documents as the output);
- when no chat model streamed any text, the run's final output is the answer (a chain ending in a string
  or a message, or a graph's last AI message).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable

from llm.steps import Step, as_text

#: Tag of model runs whose tokens are not part of the answer (LangGraph's convention).
NOSTREAM_TAG = "nostream"


@dataclass(frozen=True)
class MessageEnd:
    """A chat model's message ended: text that follows belongs to a new message."""


def takes_messages(runnable: Runnable[Any, Any]) -> bool:
    """Whether `runnable` is a chat model in a wrapper (it takes the message list, not a dict)."""
    target: object = runnable
    for _ in range(10):  # wrappers of wrappers, but never a cycle
        if isinstance(target, BaseLanguageModel):
            return True
        target = getattr(target, "bound", None) or getattr(target, "runnable", None)
        if target is None:
            return False
    return False


def final_text(output: Any) -> str:
    """The answer in a run's final output: a string, a message, or the last AI message of `{"messages": …}`."""
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return output.text if isinstance(output.text, str) else str(output.content)
    if isinstance(output, Mapping):
        messages = output.get("messages")
        if isinstance(messages, Sequence) and not isinstance(messages, str):
            for message in reversed(messages):
                if isinstance(message, AIMessage):
                    return final_text(message)
        for key in ("answer", "output", "result"):
            if isinstance(output.get(key), str):
                return output[key]
    return ""


async def stream_runnable(
    runnable: Runnable[Any, Any], messages: list[BaseMessage]
) -> AsyncIterator[AIMessageChunk | Step | MessageEnd]:
    """The chat-model chunks, tool steps and message ends of one run of `runnable`, as they happen.

    A step is yielded when its tool starts (`running`) and again when it ends. Closing this generator
    closes the run's event stream, which cancels what runs in it (a tool's task too).
    """
    payload: Any = messages if takes_messages(runnable) else {"messages": messages}
    started: dict[str, tuple[Step, float]] = {}
    streamed = False  # some model text came: the final output is not needed
    final: Any = None
    events = runnable.astream_events(payload, version="v2")
    async with contextlib.aclosing(events):
        async for event in events:
            kind = event["event"]
            data = event.get("data") or {}
            if kind == "on_chat_model_stream" or kind == "on_llm_stream":
                if NOSTREAM_TAG in (event.get("tags") or []):
                    continue
                chunk = data.get("chunk")
                if not isinstance(chunk, AIMessageChunk):  # an LLM's GenerationChunk
                    chunk = AIMessageChunk(content=getattr(chunk, "text", "") or "")
                streamed = streamed or bool(chunk.content)
                yield chunk
            elif kind in ("on_chat_model_end", "on_llm_end"):
                if NOSTREAM_TAG not in (event.get("tags") or []):
                    yield MessageEnd()
            elif kind in ("on_tool_start", "on_retriever_start"):
                step = Step(id=event["run_id"], name=event.get("name") or "tool", input=as_text(data.get("input")))
                started[step.id] = (step, time.monotonic())
                yield step
            elif kind in ("on_tool_end", "on_tool_error", "on_retriever_end", "on_retriever_error") and (
                event["run_id"] in started
            ):
                step, at = started.pop(event["run_id"])
                took = round(time.monotonic() - at, 4)
                if kind.endswith("_error"):
                    error = data.get("error")
                    yield step.ended(error=f"{type(error).__name__}: {error}" if error else "failed", duration_s=took)
                else:
                    yield step.ended(output=as_text(data.get("output")), duration_s=took)
            elif kind == "on_chain_end" and not event.get("parent_ids"):
                final = data.get("output")  # the root run's result
    if not streamed and (text := final_text(final)):
        yield AIMessageChunk(content=text)
        yield MessageEnd()
