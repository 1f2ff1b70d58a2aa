"""`AnswerJob` and `JobBoard` (ui/jobs.py): an answer's task, saved once when it ends, whatever ends it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llm.conversation import Conversation
from llm.factory import make_model
from llm.fake import FakeStreamingChatModel
from llm.settings import Settings
from tests.support.fake_openai import FAILURES, FakeOpenAIServer
from tests.support.models import HeldFake, RecordingFake
from tests.support.page import wait_for
from ui.conversation import ConversationStore
from ui.conversation_store import MemoryConversations
from ui.jobs import AnswerJob, JobBoard

PIECES = ["Rivers ", "carry ", "water ", "to ", "the ", "sea."]


class Board:
    """A board with one browser's store, and the jobs it reported as ended."""

    def __init__(self) -> None:
        self.board = JobBoard()
        self.store = ConversationStore(MemoryConversations(), "browser-1")
        self.ended: list[AnswerJob] = []
        self.board.on_end = self.ended.append

    def start(self, model: Any, conversation: Conversation | None = None, browser: str = "browser-1") -> AnswerJob:
        conversation = conversation or Conversation()
        if not conversation.messages:
            conversation.add_user("Where do rivers go?")
        return self.board.start(
            browser,
            conversation,
            store=self.store,
            model=model,
            prompt=conversation.messages[-1].content,
            history=[],
            system=None,
            options={},
            where="the test model",
        )

    def saved(self, job: AnswerJob) -> Conversation:
        conversation = self.store.get(job.conversation.id)
        assert conversation is not None, "the conversation was not saved"
        return conversation


@pytest.fixture
def jobs() -> Board:
    return Board()


async def test_a_job_streams_its_parts_then_saves_the_answer_once(jobs: Board) -> None:
    model = HeldFake(pieces=PIECES, rate=0, hold_after=2)
    job = jobs.start(model)
    assert jobs.board.get("browser-1", job.conversation.id) is job and len(jobs.board) == 1
    await wait_for(lambda: model.holding)
    assert job.parts == PIECES[:2] and job.text == "Rivers carry "  # part of the answer, while it streams
    assert not job.done and job.stats.status == "streaming" and jobs.store.get(job.conversation.id) is None
    model.release()
    await job.task
    assert job.parts == PIECES and job.done
    assert job.message is not None and (job.message.content, job.message.status) == ("".join(PIECES), "done")
    assert job.message.figures is not None and job.message.figures["chunks"] == len(PIECES)
    assert job.conversation.messages[-1] is job.message
    assert [(m.role, m.content) for m in jobs.saved(job).messages] == [
        ("user", "Where do rivers go?"),
        ("assistant", "".join(PIECES)),
    ]
    assert len(jobs.board) == 0 and jobs.board.get("browser-1", job.conversation.id) is None
    assert jobs.ended == [job]


async def test_cancel_saves_the_partial_as_stopped(jobs: Board) -> None:
    model = RecordingFake(chunks=400, rate=200)
    job = jobs.start(model)
    await wait_for(lambda: len(job.parts) >= 3)
    job.cancel()
    partial = job.text  # nothing arrives after cancel(): the task is stopped at its next step
    await job.task
    assert model.ends == ["closed"]  # the model's stream was closed, not left running
    assert job.message is not None and (job.message.content, job.message.status) == (partial, "stopped")
    assert 3 <= len(job.parts) < 400
    assert jobs.saved(job).messages[-1].content == partial
    assert jobs.ended == [job] and len(jobs.board) == 0


async def test_cancel_without_saving_keeps_the_store_as_it_was(jobs: Board) -> None:
    conversation = Conversation()
    conversation.add_user("Where do rivers go?")
    jobs.store.save(conversation)  # as the page saves the prompt before the answer starts
    job = jobs.start(RecordingFake(chunks=400, rate=200), conversation)
    await wait_for(lambda: len(job.parts) >= 1)
    job.cancel(save=False)  # e.g. the conversation was deleted meanwhile
    await job.task
    assert job.message is not None and job.message.status == "stopped"
    assert [m.role for m in jobs.saved(job).messages] == ["user"]
    assert jobs.ended == [job]


async def test_cancel_right_after_start_still_saves_and_frees_the_conversation(jobs: Board) -> None:
    job = jobs.start(RecordingFake(pieces=PIECES, rate=0))
    job.cancel()
    await wait_for(lambda: job.task.done())
    assert job.message is not None and (job.message.content, job.message.status) == ("", "stopped")
    assert len(jobs.board) == 0 and jobs.ended == [job]


async def test_a_provider_error_is_saved_with_its_message_and_the_partial(
    jobs: Board, fake_openai: FakeOpenAIServer
) -> None:
    cut = FAILURES["cut"]
    job = jobs.start(make_model("openai:cut", Settings(base_url=fake_openai.base_url)))
    await job.task
    assert job.message is not None
    assert (job.message.content, job.message.status) == (cut.partial, "error")
    assert job.message.error == cut.message("the test model")
    saved = jobs.saved(job).messages[-1]
    assert (saved.content, saved.status, saved.error) == (cut.partial, "error", cut.message("the test model"))
    assert jobs.ended == [job]


async def test_a_bug_while_streaming_is_logged_and_saved_with_a_general_message(
    jobs: Board, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = HeldFake(pieces=PIECES, rate=0, hold_after=2)
    job = jobs.start(model)
    await wait_for(lambda: model.holding)

    class BrokenParts(list):
        def append(self, item: object) -> None:
            raise ZeroDivisionError("a bug of ours")

    job.parts = BrokenParts(job.parts)
    model.release()
    with caplog.at_level(logging.ERROR, logger="rivulet.jobs"):
        await job.task
    assert job.message is not None and job.message.status == "error" and job.message.content == "Rivers carry "
    assert job.message.error == "Something went wrong in Rivulet while streaming; the details are in its log."
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [("answer failed", True)]
    assert jobs.ended == [job]


async def test_a_failing_store_keeps_the_answer_and_frees_the_conversation(
    jobs: Board, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def save(conversation: Conversation) -> None:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(jobs.store, "save", save)
    with caplog.at_level(logging.WARNING, logger="rivulet.jobs"):
        job = jobs.start(FakeStreamingChatModel(pieces=PIECES, rate=0))
        await job.task
    assert job.message is not None and job.message.content == "".join(PIECES)
    assert job.conversation.messages[-1] is job.message  # still shown
    assert [r.getMessage() for r in caplog.records] == ["could not save the conversation"]
    assert len(jobs.board) == 0 and jobs.ended == [job]


async def test_a_second_start_on_the_same_conversation_is_refused(jobs: Board) -> None:
    model = HeldFake(pieces=PIECES, rate=0, hold_after=1)
    conversation = Conversation()
    first = jobs.start(model, conversation)
    with pytest.raises(RuntimeError, match="this conversation already has an answer streaming"):
        jobs.start(model, conversation)
    assert jobs.board.get("browser-1", conversation.id) is first and len(jobs.board) == 1
    other_browser = jobs.start(FakeStreamingChatModel(pieces=["Hi."], rate=0), conversation, browser="browser-2")
    other_conversation = jobs.start(FakeStreamingChatModel(pieces=["Hi."], rate=0))
    assert len(jobs.board) == 3
    await other_browser.task
    await other_conversation.task
    model.release()
    await first.task
    again = jobs.start(FakeStreamingChatModel(pieces=["Again."], rate=0), conversation)  # free once it ended
    await again.task
    assert jobs.ended == [other_browser, other_conversation, first, again] and len(jobs.board) == 0


async def test_forget_drops_only_the_job_on_the_board(jobs: Board) -> None:
    model = HeldFake(pieces=PIECES, rate=0, hold_after=1)
    job = jobs.start(model)
    jobs.board.forget(job)
    assert len(jobs.board) == 0 and jobs.board.get("browser-1", job.conversation.id) is None
    assert jobs.ended == [job]
    held = HeldFake(pieces=["New ", "answer."], rate=0, hold_after=1)
    replacement = jobs.start(held, job.conversation)
    jobs.board.forget(job)  # the old job again: its key now belongs to another job, which stays
    assert jobs.board.get("browser-1", job.conversation.id) is replacement and jobs.ended == [job]
    model.release()
    await job.task  # the forgotten job still ends and saves; the board leaves the replacement alone
    assert jobs.board.get("browser-1", job.conversation.id) is replacement and jobs.ended == [job]
    held.release()
    await replacement.task
    assert jobs.ended == [job, replacement] and len(jobs.board) == 0


async def test_views_attach_and_detach(jobs: Board) -> None:
    job = jobs.start(FakeStreamingChatModel(pieces=PIECES, rate=0))
    view, other = object(), object()
    job.attach(view)
    job.attach(other)
    job.detach(view)
    job.detach(view)  # twice is fine
    assert job.views == {other}
    await job.task
