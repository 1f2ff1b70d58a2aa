"""Running answers shared through Redis Streams: instances in this process, each with its own connections, one Redis.

Each `Instance` is what one Rivulet process holds (its conversations backend, relay, job board and hub); they
share nothing but the real redis-server of the fixture. The timings are shortened (a heartbeat every 0.2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from llm.conversation import Conversation
from tests.support.models import RecordingFake
from tests.support.page import wait_for
from tests.support.redis_server import RedisServer
from ui.conversation import ConversationStore
from ui.hub import ConversationHub
from ui.jobs import AnswerJob, JobBoard
from ui.redis_relay import RedisAnswerRelay
from ui.redis_store import RedisConversations
from ui.remote_answer import INTERRUPTED, RemoteAnswer

BROWSER = "browser-1"


@dataclass
class Instance:
    conversations: RedisConversations
    relay: RedisAnswerRelay
    board: JobBoard
    hub: ConversationHub
    store: ConversationStore

    def ask(self, model: RecordingFake, prompt: str = "Tell me") -> AnswerJob:
        """What the page does on Send: save the prompt, then stream the answer here."""
        conversation = Conversation()
        conversation.add_user(prompt)
        self.hub.adopt(BROWSER, conversation)
        self.store.save(conversation)
        return self.board.start(
            BROWSER,
            conversation,
            store=self.store,
            model=model,
            prompt=prompt,
            history=[],
            system=None,
            options={},
            where="the fake",
            spec="fake",
        )

    async def follow(self, conversation_id: str) -> RemoteAnswer:
        """What a tab here does when it opens the conversation: follow its answer that streams elsewhere."""
        await wait_for(lambda: self.relay.runs_elsewhere((BROWSER, conversation_id)))
        await wait_for(lambda: self.store.get(conversation_id) is not None)
        self.hub.get(BROWSER, self.store, conversation_id)
        answer = self.board.get(BROWSER, conversation_id)
        assert isinstance(answer, RemoteAnswer)
        return answer

    def kill(self) -> None:
        """As kill -9 would, for Redis: nothing more goes out (no last entry, no heartbeat, no save)."""
        for task in [*self.relay._tasks, *self.conversations._tasks]:
            task.cancel()


@contextlib.asynccontextmanager
async def instances(server: RedisServer, count: int) -> AsyncIterator[list[Instance]]:
    prefix = f"rivulet-test-{secrets.token_hex(4)}"
    started: list[Instance] = []
    try:
        for _ in range(count):
            conversations = RedisConversations(server.url, prefix=prefix, retry=0.2)
            relay = RedisAnswerRelay(conversations, flush=0.05, heartbeat=0.2, ttl=0.8)
            board = JobBoard(relay)
            hub = ConversationHub(board, conversations)
            await conversations.start()
            await relay.start()
            await asyncio.wait_for(conversations.listening.wait(), 10)
            store = ConversationStore(conversations, BROWSER)
            await store.load()
            hub.listen(BROWSER, lambda *_: None)  # a tab of the browser is open here
            started.append(Instance(conversations, relay, board, hub, store))
        yield started
    finally:
        for instance in started:
            for job in list(instance.board._jobs.values()):
                job.cancel(save=False)
            await instance.relay.close()
            await instance.conversations.close()


async def states_until_done(answer: RemoteAnswer) -> list[str]:
    """Every text the follower held, as a page polling it would see them, until it ended."""
    states = [answer.text]
    while not answer.done:
        await asyncio.sleep(0.02)
        if answer.text != states[-1]:
            states.append(answer.text)
    return states


def stored(instance: Instance, conversation_id: str) -> dict:
    return json.loads(json.dumps(instance.conversations.conversations(BROWSER)[conversation_id]))


async def test_a_tab_elsewhere_follows_from_the_start_then_live(redis_server: RedisServer) -> None:
    async with instances(redis_server, 2) as (a, b):
        job = a.ask(RecordingFake(chunks=40, rate=40))
        await wait_for(lambda: len(job.parts) >= 10)  # B's tab opens it after a quarter of the answer
        had = job.text
        answer = await b.follow(job.conversation.id)
        states = await states_until_done(answer)
        assert job.done and answer.message is not None
        final = job.text
        assert answer.message.content == final and answer.message.status == "done"
        assert answer.message.model == "fake" and answer.message.figures == job.message.figures
        growing = [state for state in states if state]
        # From the first word on: what was written before B came, in B's first state, then on from there.
        assert final.startswith(growing[0]) and len(growing[0]) >= len(had) // 2
        assert len(growing) >= 3, f"B saw {len(growing)} states"
        assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(growing))
        assert final.startswith(growing[-1])
        # B's copy of the conversation ends with the answer as A saved it.
        assert [m.content for m in answer.conversation.messages] == ["Tell me", final]
        assert b.board.get(BROWSER, job.conversation.id) is None


async def test_stop_on_another_instance_closes_the_model_stream_within_a_second(redis_server: RedisServer) -> None:
    async with instances(redis_server, 2) as (a, b):
        model = RecordingFake(chunks=400, rate=40)
        job = a.ask(model)
        answer = await b.follow(job.conversation.id)
        await wait_for(lambda: len(answer.parts) >= 5)
        pressed = time.monotonic()
        answer.cancel()
        await wait_for(lambda: model.ends == ["closed"], limit=5)
        took = time.monotonic() - pressed
        assert took < 1.0, f"the model stream closed {took:.2f} s after Stop on the other instance"
        await wait_for(lambda: answer.done)
        assert answer.message is not None and answer.message.status == "stopped"
        assert answer.message.content == job.text and job.text.startswith(answer.text)
        assert stored(a, job.conversation.id)["messages"][-1]["status"] == "stopped"


async def test_an_instance_that_dies_mid_answer_leaves_it_interrupted_with_its_text(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server, 3) as (a, b, c):
        job = a.ask(RecordingFake(chunks=400, rate=40))
        followers = [await b.follow(job.conversation.id), await c.follow(job.conversation.id)]
        await wait_for(lambda: all(len(f.parts) >= 8 for f in followers))
        a.kill()
        written = job.text
        await wait_for(lambda: all(f.done for f in followers), limit=5)
        for follower in followers:
            message = follower.message
            assert message is not None and message.status == "error" and message.error == INTERRUPTED
            assert len(message.content) >= len("".join(follower.parts[:8])) and written.startswith(message.content)
        assert followers[0].message.content == followers[1].message.content  # type: ignore[union-attr]
        # One instance saved it, once; both know it (the stored conversation is read again).
        for instance in (b, c):
            await wait_for(lambda instance=instance: len(stored(instance, job.conversation.id)["messages"]) == 2)
            messages = stored(instance, job.conversation.id)["messages"]
            assert [m["role"] for m in messages] == ["user", "assistant"]
            assert messages[-1]["content"] == followers[0].message.content  # type: ignore[union-attr]
            assert messages[-1]["error"] == INTERRUPTED
        # The conversation goes on: asked again on B, it answers there.
        assert b.board.get(BROWSER, job.conversation.id) is None
        conversation = followers[0].conversation
        conversation.add_user("Again")
        again = b.board.start(
            BROWSER, conversation, store=b.store, model=RecordingFake(chunks=5, rate=0), prompt="Again",
            history=conversation.history()[:-1], system=None, options={}, where="the fake",
        )  # fmt: skip
        await wait_for(lambda: again.done)
        assert again.message is not None and again.message.status == "done"
        assert [m.role for m in conversation.messages] == ["user", "assistant", "user", "assistant"]


async def test_closing_just_as_the_writer_wakes_ends_it(redis_server: RedisServer) -> None:
    # A cancellation that lands as the writer's timed wait ends (an answer ended that instant) must not be
    # lost: the writer would wait on for ever and the instance would never close.
    for spins in [0, 1, 2] * 2:
        async with instances(redis_server, 1) as (a,):
            job = a.ask(RecordingFake(chunks=100, rate=5))  # an answer streams here: the writer mostly waits, timed
            await wait_for(lambda job=job: len(job.parts) >= 1)
            a.relay._wake.set()
            for _ in range(spins):
                await asyncio.sleep(0)
            closing = asyncio.create_task(a.relay.close())
            done, _ = await asyncio.wait({closing}, timeout=5)
            assert done, f"the relay did not close ({spins} loop turns after the wake-up)"


async def test_a_follower_that_loses_its_connection_resumes_without_gap_or_duplicate(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server, 2) as (a, b):
        job = a.ask(RecordingFake(chunks=120, rate=60))
        answer = await b.follow(job.conversation.id)
        for cut in (10, 40, 80):
            await wait_for(lambda cut=cut: len(job.parts) >= cut)
            await b.conversations.client.connection_pool.disconnect()  # every connection of B drops
        await wait_for(lambda: answer.done, limit=10)
        assert answer.text == job.text and answer.message is not None and answer.message.content == job.text


@pytest.mark.parametrize("chunks", [100, 400])
async def test_the_stream_grows_with_the_answer_and_expires_after_it(redis_server: RedisServer, chunks: int) -> None:
    async with instances(redis_server, 2) as (a, b):
        job = a.ask(RecordingFake(chunks=chunks, rate=200))
        answer = await b.follow(job.conversation.id)
        await wait_for(lambda: answer.done, limit=10)
        stream = a.relay.stream_key(job.key)
        entries = await a.conversations.client.xrange(stream)
        size = sum(len(k) + len(v) for _, fields in entries for k, v in fields.items())
        print(f"\n{chunks} chunks, {len(job.text)} characters: {len(entries)} entries, {size} bytes of fields")
        # Each piece of text is in the stream once: the fields are the text plus a bounded overhead per entry.
        text = "".join(fields.get("a", "") for _, fields in entries)
        assert text == job.text
        assert size < len(job.text) + len(job.message.to_dict()["content"]) + 400 * len(entries) + 2000  # type: ignore[union-attr]
        ttl = await a.conversations.client.ttl(stream)
        assert 0 < ttl <= 60


async def test_redis_restarted_empty_mid_answer_loses_nothing_once_it_is_back(redis_server: RedisServer) -> None:
    async with instances(redis_server, 2) as (a, b):
        job = a.ask(RecordingFake(chunks=200, rate=50))
        answer = await b.follow(job.conversation.id)
        await wait_for(lambda: len(answer.parts) >= 10)
        redis_server.stop()  # a crash: everything in it is gone
        await wait_for(lambda: len(job.parts) >= 60)  # the answer goes on meanwhile
        redis_server.start()
        await wait_for(lambda: answer.done, limit=20)
        assert answer.message is not None and answer.message.status == "done"
        assert answer.message.content == job.text and answer.text == job.text  # no gap, no duplicate
        await wait_for(lambda: stored(b, job.conversation.id)["messages"][-1]["content"] == job.text, limit=10)


async def test_closing_the_writers_last_tab_stops_the_answer_only_if_no_other_instance_shows_it(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server, 2) as (a, b):
        followed = a.ask(RecordingFake(chunks=400, rate=40), "Followed")
        answer = await b.follow(followed.conversation.id)
        answer.attach(view := object())  # a tab on B shows it
        deadline = time.monotonic() + 5
        while not await a.conversations.client.exists(a.relay.watched_key(followed.key)):  # B's next check says so
            assert time.monotonic() < deadline, "B never marked the answer as watched"
            await asyncio.sleep(0.02)
        followed.abandon()  # A's last tab closed for good
        alone = a.ask(RecordingFake(chunks=400, rate=40), "Alone")  # nobody elsewhere shows this one
        await wait_for(lambda: len(alone.parts) >= 5)
        alone.abandon()
        await wait_for(lambda: alone.done)
        assert alone.message is not None and alone.message.status == "stopped"
        parts = len(followed.parts)
        await wait_for(lambda: len(followed.parts) > parts + 5)  # still streaming, for the tab on B
        assert not followed.done
        answer.detach(view)


async def test_an_answer_saved_just_before_its_writer_died_is_not_marked_interrupted(
    redis_server: RedisServer,
) -> None:
    async with instances(redis_server, 2) as (a, b):
        job = a.ask(RecordingFake(chunks=40, rate=40))
        answer = await b.follow(job.conversation.id)
        await wait_for(lambda: len(answer.parts) >= 5)
        for task in a.relay._tasks:  # A's relay dies first: no end entry, no heartbeat; A still saves the answer
            task.cancel()
        await wait_for(lambda: job.done)
        await wait_for(lambda: len(stored(b, job.conversation.id)["messages"]) == 2)
        await wait_for(lambda: answer.done, limit=5)
        assert answer.message is not None and answer.message.status == "done"
        assert answer.message.content == job.text
        assert [m.content for m in answer.conversation.messages] == ["Tell me", job.text]
        assert [m["status"] for m in stored(b, job.conversation.id)["messages"]] == ["done", "done"]
