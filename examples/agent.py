"""A LangGraph agent with two tools, as a Rivulet model: `make demo-agent`, or
`python main.py --model py:examples.agent:build_agent`.

Offline it runs on `PlannedToolModel`, a small deterministic tool-calling chat model (no model file, no
network); with `RIVULET_AGENT_MODEL` set to a spec of a provider that supports tools (say
`openai:gpt-4o-mini`, or `ollama:qwen3` with `--base-url`), the same graph runs on that model.
Ask it: "How many people live in Paris and Berlin together?"

Needs `langgraph` (a dev dependency: `make install-dev`); Rivulet itself never imports it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import operator
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

#: What `city_facts` knows: population (2024 estimates, city proper) and country.
CITIES: dict[str, tuple[int, str]] = {
    "paris": (2_103_000, "France"),
    "berlin": (3_897_000, "Germany"),
    "tokyo": (14_190_000, "Japan"),
    "amsterdam": (931_000, "the Netherlands"),
    "lagos": (8_048_000, "Nigeria"),
}
_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
}


@tool
def city_facts(city: str) -> str:
    """The population and country of a city (Paris, Berlin, Tokyo, Amsterdam or Lagos)."""
    facts = CITIES.get(city.strip().lower())
    if facts is None:
        raise ValueError(f"no facts about {city!r}; known cities: {', '.join(c.title() for c in CITIES)}")
    return f"{city.strip().title()}: population {facts[0]:,}, in {facts[1]}"


@tool
def calculate(expression: str) -> str:
    """The value of an arithmetic expression with + - * / and parentheses, e.g. '2103000 + 3897000'."""

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError(f"only numbers and + - * / are allowed, not {ast.dump(node)[:40]}")

    result = value(ast.parse(expression.replace(",", "").replace("_", ""), mode="eval").body)
    return f"{result:,.0f}" if float(result).is_integer() else f"{result:,.4g}"


TOOLS: list[BaseTool] = [city_facts, calculate]


class PlannedToolModel(BaseChatModel):
    """A deterministic tool-calling chat model: looks up the cities a question names, adds up their populations,
    then streams an answer word by word from the tools' results. For demos and tests, offline."""

    #: Seconds between two streamed words (0: as fast as possible).
    delay: float = 0.03
    #: What it says before its first tool calls.
    preamble: str = "Let me look that up."

    @property
    def _llm_type(self) -> str:
        return "planned-tool-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        return self  # it knows its two tools

    def _plan(self, messages: list[BaseMessage]) -> AIMessage:
        """The next message: tool calls still needed, or the answer."""
        last_prompt = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
        question = str(messages[last_prompt].content) if last_prompt >= 0 else ""
        results = [m for m in messages[last_prompt + 1 :] if isinstance(m, ToolMessage)]
        cities = [c for c in CITIES if re.search(rf"\b{c}\b", question.lower())]
        facts = [m for m in results if m.name == "city_facts"]
        turn = len(messages)
        if cities and not facts:
            calls = [
                {"name": "city_facts", "args": {"city": c.title()}, "id": f"call_{turn}_{i}"}
                for i, c in enumerate(cities)
            ]
            return AIMessage(content=self.preamble, tool_calls=calls)
        populations = [m.group(1) for m in (re.search(r"population ([\d,]+)", str(f.content)) for f in facts) if m]
        sums = [m for m in results if m.name == "calculate"]
        if len(populations) > 1 and not sums:
            expression = " + ".join(p.replace(",", "") for p in populations)
            return AIMessage(
                content="",
                tool_calls=[{"name": "calculate", "args": {"expression": expression}, "id": f"call_{turn}_sum"}],
            )
        if not cities:
            known = ", ".join(c.title() for c in CITIES)
            return AIMessage(
                f"I am a demo agent with two tools. I know {known}: "
                "try *How many people live in Paris and Berlin together?*"
            )
        lines = [f"- {m.content}" for m in facts]
        total = f"\n\nTogether that is **{sums[-1].content}** people." if sums else ""
        return AIMessage("Here is what my tools found:\n\n" + "\n".join(lines) + total)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._plan(messages))])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        for word in re.findall(r"\S+\s*|\s+", str(message.content)):
            yield AIMessageChunk(content=word)
        if message.tool_calls:
            calls = [
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)
            ]
            yield AIMessageChunk(content="", tool_call_chunks=calls)  # type: ignore[arg-type]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._plan(messages)):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._plan(messages)):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield ChatGenerationChunk(message=chunk)


def agent_graph(
    model: BaseChatModel, tools: Sequence[BaseTool] = TOOLS, *, handle_errors: bool = True
) -> Runnable[Any, Any]:
    """The classic LangGraph agent: the model, then its tool calls, until it answers without one. A failing tool's
    error goes back to the model (`handle_errors`), or fails the run."""
    bound = model.bind_tools(list(tools))

    async def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", call_model)
    graph.add_node("tools", ToolNode(list(tools), handle_tool_errors=handle_errors))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile()


def build_agent() -> Runnable[Any, Any]:
    """The agent on `RIVULET_AGENT_MODEL` if set (any Rivulet spec of a tool-calling model), else offline."""
    spec = os.environ.get("RIVULET_AGENT_MODEL")
    if not spec:
        return agent_graph(PlannedToolModel())
    from llm.factory import make_model
    from llm.settings import Settings

    model = make_model(spec, Settings.load())
    if not isinstance(model, BaseChatModel):
        raise TypeError(f"RIVULET_AGENT_MODEL={spec!r} must name a chat model")
    return agent_graph(model)
