"""A small LCEL retrieval chain as a Rivulet model: it finds the notes that match the question and answers from
them. `python main.py --model py:examples.retrieval_chain:build_chain`.

It runs on the embedded SmolLM2 model by default (offline); `RIVULET_CHAIN_MODEL` picks any other Rivulet
spec (`fake`, `openai:gpt-4o-mini`, …). The retrieval shows on the page as a step, with the notes it found.
Needs only langchain-core (no vector store: the notes are few, a word match is enough for a demo).
"""

from __future__ import annotations

import os
import re
from operator import itemgetter
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

NOTES = [
    Document("Rivulet streams an answer into the page chunk by chunk over NiceGUI's websocket.", id="streaming"),
    Document("Rivulet's default model is SmolLM2-135M-Instruct, which runs offline on the CPU.", id="model"),
    Document("POST /ask takes JSON {prompt} and answers with text/plain chunks, or Server-Sent Events.", id="api"),
    Document("Several Rivulet instances can share one Redis and sit behind nginx with sticky sessions.", id="scale"),
    Document("A py: model spec loads your own LangChain chat model, chain or LangGraph agent.", id="custom"),
]
SYSTEM = "Answer the question in one or two sentences, using only these notes:\n\n{context}"


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9/]+", text.lower()) if len(w) > 2}


class NoteRetriever(BaseRetriever):
    """The notes sharing the most words with the query (at most `k`)."""

    notes: list[Document] = NOTES
    k: int = 2

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        asked = words(query)
        scored = sorted(((len(asked & words(n.page_content)), i) for i, n in enumerate(self.notes)), reverse=True)
        return [self.notes[i] for score, i in scored[: self.k] if score > 0]


def last_question(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content) if messages else ""


def build_chain(model: BaseChatModel | None = None) -> Runnable[Any, Any]:
    """{"messages": [...]} -> the retrieved notes -> a prompt -> the model's streamed answer."""
    if model is None:
        from llm.factory import make_model
        from llm.settings import Settings

        made = make_model(os.environ.get("RIVULET_CHAIN_MODEL") or "local", Settings.load())
        if not isinstance(made, BaseChatModel):
            raise TypeError("RIVULET_CHAIN_MODEL must name a chat model")
        model = made
    retrieve = itemgetter("messages") | RunnableLambda(last_question) | NoteRetriever()
    context = retrieve | RunnableLambda(lambda docs: "\n".join(f"- {d.page_content}" for d in docs) or "(none)")
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), MessagesPlaceholder("messages")])
    return RunnablePassthrough.assign(context=context) | prompt | model
