"""The OpenAI path for real: ChatOpenAI(base_url=…) against a real llama.cpp server."""

from __future__ import annotations

from llm.factory import make_model
from llm.settings import Settings
from llm.streaming import AnswerStats, stream_answer


async def test_streams_from_a_real_llama_cpp_server(llama_server: str) -> None:
    model = make_model("openai:smollm2", Settings(base_url=llama_server, max_tokens=64, temperature=0))
    stats = AnswerStats()
    states: list[str] = []
    text = ""
    async for chunk in stream_answer(model, "Write two sentences about rivers.", stats=stats):
        text += chunk
        states.append(text)
    assert len(states) >= 10
    assert stats.status == "done"
    assert len(text.split()) >= 5
