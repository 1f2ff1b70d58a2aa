"""Answers that outlive the page that asked for them.

An `AnswerJob` owns the streaming task of one answer. Pages attach views to it and pull its
text on their own timers, so a reloaded page (or a second tab of the same browser) picks up
a running answer where it is. When a tab is gone for good (NiceGUI deletes a client only
after its reconnect grace period), the page cancels the jobs nobody else is watching; a
cancelled job saves its partial text.

With several instances, an answer that streams on another one is followed here as a
`ui.remote_answer.RemoteAnswer`; both are a `LiveAnswer`, which is all a page reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm.context import ContextWindow
from llm.conversation import Conversation, Message
from llm.errors import RivuletError
from llm.signals import Signal
from llm.steps import Step
from llm.streaming import AnswerSource, AnswerStats, stream_parts
from ui.answer_relay import AnswerRelay
from ui.conversation import ConversationStore

if TYPE_CHECKING:
    from ui.remote_answer import RemoteAnswer

log = logging.getLogger("rivulet.jobs")
#: Seconds an answer whose text is complete waits for the pages to send it (see `AnswerJob._completed`).
SEND_PAUSE = 0.002
#: The error of a tool call that was still running when its answer was stopped.
STEP_CUT = "Stopped before it finished."
#: The error of a tool call that was still running when its answer ended otherwise (a failure).
STEP_UNFINISHED = "It did not finish."


@dataclass(frozen=True)
class AnswerRequest:
    """What one answer is asked with."""

    model: AnswerSource
    prompt: str
    history: list[Message]
    system: str | None
    options: dict[str, Any]
    where: str  # the provider, as error messages name it
    context: ContextWindow | None = None
    spec: str | None = None  # the model spec, recorded with the answer


class LiveAnswer:
    """What a page shows of an answer while it streams: its text, reasoning and steps so far, its figures."""

    #: True for an answer streaming on another instance (see `ui.remote_answer`).
    remote = False

    def __init__(self, key: tuple[str, str], conversation: Conversation) -> None:
        self.key = key
        self.conversation = conversation
        self.parts: list[str] = []  # the answer's text, as it arrived
        self.reasoning_parts: list[str] = []  # the reasoning's text, as it arrived
        self._steps: dict[str, Step] = {}  # an agent's tool calls by id, each as it is now, in the order they started
        self.stats = AnswerStats()
        self.signal: Signal | None = None  # what the answer waits for before its first chunk
        self.views: set[object] = set()
        self.message: Message | None = None  # set when the answer has ended
        self.complete = False  # the whole text is in (the answer ends soon, without more text)
        # What it is asked with, recorded with the answer:
        self.spec: str | None = None  # the model spec
        self.system: str | None = None
        self.options: dict[str, Any] = {}
        self.alternatives: list[Message] = []  # the earlier versions of the answer (a regeneration)

    @property
    def done(self) -> bool:
        return self.message is not None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def steps(self) -> list[Step]:
        """The tool calls in the order they started, each as it is now."""
        return list(self._steps.values())

    def as_message(self) -> Message:
        """The answer as it stands, as the message to save: a tool call still running was cut off with it."""
        return Message(
            "assistant",
            self.text,
            status=self.stats.status if self.stats.status in {"stopped", "error"} else "done",
            error=self.stats.error,
            figures=self.stats.to_dict(),
            alternatives=self.alternatives,
            reasoning=self.reasoning or None,
            model=self.spec,
            steps=[self._cut_off(step) for step in self.steps],
            system=self.system,
            options=self.options,
        )

    def _cut_off(self, step: Step) -> Step:
        """A step still running when the answer ended was cut off with it (by a stop, or by a failure)."""
        if step.status != "running":
            return step
        return step.ended(error=STEP_CUT if self.stats.status == "stopped" else STEP_UNFINISHED)

    def attach(self, view: object) -> None:
        self.views.add(view)

    def tell_views_it_ended(self) -> None:
        """Let each view that can show the end now (`answer_ended`) do so, not at its next look for news."""
        for view in list(self.views):
            if callable(answer_ended := getattr(view, "answer_ended", None)):
                answer_ended()

    def detach(self, view: object) -> None:
        self.views.discard(view)

    def cancel(self, *, save: bool = True) -> None:
        """Stop the answer; its partial text is saved (unless `save` is False)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """The last tab showing it here closed for good."""
        raise NotImplementedError


class AnswerJob(LiveAnswer):
    """The streaming of one answer into a conversation, in this process."""

    def __init__(
        self,
        board: JobBoard,
        key: tuple[str, str],
        store: ConversationStore,
        conversation: Conversation,
        request: AnswerRequest,
        alternatives: list[Message] | None = None,
    ) -> None:
        super().__init__(key, conversation)
        self.board = board
        self.store = store
        self.spec = request.spec
        self.alternatives = list(alternatives or [])
        self.system = request.system
        self.options = dict(request.options)
        self._request: AnswerRequest | None = request
        self._keep = True  # False once the conversation is deleted: its answer is not saved
        self._stopping = False  # a stop was asked for
        self.task: asyncio.Task[None] = asyncio.create_task(self._run(), name=f"rivulet-answer-{key[1]}")
        self.task.add_done_callback(self._ended)  # the one place an answer is saved

    def _on_signal(self, signal: Signal) -> None:
        self.signal = signal

    async def _completed(self) -> None:
        """The whole text is in: the views show it now (`answer_ended` flushes them). The pause lets the pages send it
        before LangChain's own work at the end of a stream holds the event loop (about 20 ms at 5,000 chunks)."""
        self.complete = True
        self.tell_views_it_ended()
        await asyncio.sleep(SEND_PAUSE)

    async def _run(self) -> None:
        request = self._request
        assert request is not None
        answer = stream_parts(
            request.model,
            request.prompt,
            history=request.history,
            system=request.system,
            options=request.options,
            stats=self.stats,
            on_signal=self._on_signal,
            on_complete=self._completed,
            where=request.where,
            context=request.context,
        )
        try:
            async with contextlib.aclosing(answer):
                async for part in answer:
                    if part.step is not None:
                        self._steps[part.step.id] = part.step
                    else:
                        (self.parts if part.kind == "answer" else self.reasoning_parts).append(part.text)
                    if self._stopping:
                        # The cancel did not arrive: a library below swallowed it (seen in 2 of 5 runs
                        # with the local engine). Closing the stream stops it all the same.
                        break
        except asyncio.CancelledError:
            pass  # a stop: `_ended` records it
        except RivuletError:
            pass  # stream_parts recorded the human message in stats
        except Exception:  # a bug of ours: keep the partial, tell the user, log the details
            log.exception("answer failed")
            self.stats.finish("error", "Something went wrong in Rivulet while streaming; the details are in its log.")

    def _ended(self, _task: asyncio.Task[None]) -> None:
        """The task is done, however it ended: even one cancelled before its first step, which never ran `_run`."""
        if self.stats.ended is None:
            self.stats.finish("stopped")
        self._save()

    def _save(self) -> None:
        self.message = self.as_message()
        self.conversation.messages.append(self.message)
        self._request = None  # release the model and the copy of the history
        try:
            if self._keep:
                self.store.save(self.conversation)
        except Exception:  # storage down (e.g. Redis): the answer stays on screen
            log.warning("could not save the conversation", exc_info=True)
        self.board.forget(self)
        self.tell_views_it_ended()

    def cancel(self, *, save: bool = True) -> None:
        """Stop the answer: the provider stream is closed and the partial text is saved (unless `save` is False)."""
        self._keep = self._keep and save
        self._stopping = True
        if not self.task.done():
            self.task.cancel()

    def abandon(self) -> None:
        """Nobody here reads it any more: stop it, unless a tab of another instance follows it."""
        self.board.relay.abandoned(self)


class JobBoard:
    """The running answers of this process, keyed by (browser id, conversation id), and those it follows.

    An answer that streams on another instance (its relay knows) is followed once a page asks for its
    conversation (`follow`); `get` gives either kind.
    """

    def __init__(self, relay: AnswerRelay | None = None) -> None:
        self._jobs: dict[tuple[str, str], AnswerJob] = {}
        self._followed: dict[tuple[str, str], RemoteAnswer] = {}
        self.relay = relay or AnswerRelay()
        self.relay.board = self
        #: Called once an answer has ended (here: and its answer is saved).
        self.on_end: Callable[[LiveAnswer], None] | None = None
        #: Called when an answer started on another instance (a page showing its conversation follows it).
        self.on_remote_start: Callable[[tuple[str, str]], None] | None = None

    def get(self, browser_id: str, conversation_id: str) -> LiveAnswer | None:
        key = (browser_id, conversation_id)
        return self._jobs.get(key) or self._followed.get(key)

    def follow(self, key: tuple[str, str], conversation: Conversation) -> RemoteAnswer | None:
        """Follow the conversation's answer if it streams on another instance (and is not followed yet)."""
        from ui.remote_answer import RemoteAnswer

        if key in self._jobs or key in self._followed or not self.relay.runs_elsewhere(key):
            return self._followed.get(key)
        if not conversation.messages or conversation.messages[-1].role != "user":
            return None  # its answer is saved already (the writer's last word is on its way)
        answer = RemoteAnswer(key, conversation, self)
        self._followed[key] = answer
        self.relay.follow(answer)
        return answer

    def start(
        self,
        browser_id: str,
        conversation: Conversation,
        *,
        store: ConversationStore,
        alternatives: list[Message] | None = None,
        **request: Any,
    ) -> AnswerJob:
        """Stream an answer into `conversation`; `request` are the fields of `AnswerRequest`."""
        key = (browser_id, conversation.id)
        if key in self._jobs or key in self._followed:
            raise RuntimeError("this conversation already has an answer streaming")
        job = AnswerJob(self, key, store, conversation, AnswerRequest(**request), alternatives)
        self._jobs[key] = job
        self.relay.started(job)
        return job

    def forget(self, answer: LiveAnswer) -> None:
        """The answer ended."""
        if self._jobs.get(answer.key) is answer:
            del self._jobs[answer.key]
            self.relay.ended(answer)  # type: ignore[arg-type]
        elif self._followed.get(answer.key) is answer:
            del self._followed[answer.key]
        else:
            return
        if self.on_end is not None:
            self.on_end(answer)

    def remote_started(self, key: tuple[str, str]) -> None:
        """The relay heard of an answer that started elsewhere."""
        if self.on_remote_start is not None:
            self.on_remote_start(key)

    def __len__(self) -> int:
        return len(self._jobs)
