"""Running answers shared by several instances through Redis Streams: followed from anywhere, stopped from anywhere.

Keys (`rivulet:` is the prefix, `<b>:<c>` the browser and conversation ids):
  rivulet:answer:<b>:<c>    stream: the running answer, one entry per flush (format: `ui.answer_stream`)
  rivulet:running:<b>:<c>   the writing instance's heartbeat: its origin, expiring HEARTBEAT_TTL after the last beat
  rivulet:watched:<b>:<c>   set while a tab of another instance shows the answer (so closing the writer's last
                            tab does not stop it)
  rivulet:answers           channel: {"event": "start" | "end" | "stop" | "interrupted", "origin", "browser",
                            "conversation", ...}

The writer appends what is new every FLUSH_SECONDS (one MULTI/EXEC for all its answers, with the heartbeats) and,
once the answer is saved, a last entry with the saved message; the stream then expires after ENDED_TTL. A reader
starts at the stream's first entry and goes on from the last entry it read (its cursor), also after a lost
connection: no gap, no duplicate. Stop publishes a "stop" that the writer acts on at once.

When a writer's heartbeat is gone for two checks in a row, the first instance to take the stream (XRANGE + DEL in
one transaction) saves the answer as it stands, marked interrupted, and tells the others. A Redis that restarted
empty loses the stream, not the answer: the writer's next entry carries the whole text again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from llm.conversation import Conversation, Message
from ui.answer_relay import AnswerRelay, Key
from ui.answer_stream import Outbox, dumps, end_fields, loads
from ui.jobs import AnswerJob
from ui.redis_store import RedisConversations
from ui.remote_answer import RemoteAnswer

log = logging.getLogger("rivulet.relay")

FLUSH_SECONDS = 0.2  # between two entries of a running answer
HEARTBEAT_SECONDS = 1.0  # between two beats of a writer, and two checks of the writers elsewhere
HEARTBEAT_TTL = 4.0  # seconds after its last beat that a writer counts as gone
STREAM_TTL = 3600  # seconds a stream lives after its last entry when nobody ends it
ENDED_TTL = 60  # seconds an ended answer's stream stays for late readers
READ_BLOCK_MS = 1000
READ_COUNT = 512


class RedisAnswerRelay(AnswerRelay):
    """This instance's running answers written to Redis Streams, and the other instances' answers read from them."""

    def __init__(
        self,
        conversations: RedisConversations,
        *,
        flush: float = FLUSH_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        ttl: float = HEARTBEAT_TTL,
    ) -> None:
        super().__init__()
        self.conversations = conversations
        self.client = conversations.client
        self.origin = conversations.origin
        self.prefix = conversations.prefix
        self.flush, self.heartbeat, self.ttl = flush, heartbeat, ttl
        self.channel = f"{self.prefix}:answers"
        self._outboxes: dict[Key, Outbox] = {}  # the answers streaming here
        self._elsewhere: dict[Key, str] = {}  # the answers streaming on other instances: their origin
        self._missing: set[Key] = set()  # answers elsewhere whose heartbeat was gone at the last check
        self._beat_at = 0.0
        self._wake = asyncio.Event()
        self._closed = False  # the loops end at their next turn (a cancel alone can be lost, see `close`)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        conversations.channels[self.channel] = self._received
        conversations.on_listening.append(self._catch_up)
        conversations.on_close.append(self.close)

    # -- keys --------------------------------------------------------------------------------------------------
    def stream_key(self, key: Key) -> str:
        return f"{self.prefix}:answer:{key[0]}:{key[1]}"

    def running_key(self, key: Key) -> str:
        return f"{self.prefix}:running:{key[0]}:{key[1]}"

    def watched_key(self, key: Key) -> str:
        return f"{self.prefix}:watched:{key[0]}:{key[1]}"

    # -- life --------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="rivulet-relay-write"),
            asyncio.create_task(self._watch_loop(), name="rivulet-relay-watch"),
        ]

    async def close(self) -> None:
        """End the background work (before the connections close: see `RedisConversations.on_close`).

        The loops also stop at their next turn: a cancel that lands inside a Redis call can come out of it as a
        Redis error or not at all, and one that lands as a timed wait ends can be taken for the timeout (Python
        3.11), so a cancel alone let the writer run on after an answer ended at that instant (a hung close)."""
        self._closed = True
        self._wake.set()
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # a cancel of `close` itself still goes through

    # -- what the board calls ----------------------------------------------------------------------------------
    def started(self, job: AnswerJob) -> None:
        self._outboxes[job.key] = Outbox(job)
        self._wake.set()

    def ended(self, job: AnswerJob) -> None:
        self._wake.set()  # its last entry goes out now, not at the next flush

    def runs_elsewhere(self, key: Key) -> bool:
        return key in self._elsewhere

    def follow(self, answer: RemoteAnswer) -> None:
        self._spawn(self._read(answer), f"rivulet-follow-{answer.key[1]}")

    def stop(self, key: Key, *, save: bool = True) -> None:
        self._spawn(self._publish("stop", key, save=save), "rivulet-relay-stop")

    def abandoned(self, job: AnswerJob) -> None:
        async def stop_unless_watched() -> None:
            try:
                watched = await self.client.exists(self.watched_key(job.key))
            except self.conversations._errors():
                watched = 0
            if not watched and not job.views:
                job.cancel()

        self._spawn(stop_unless_watched(), "rivulet-relay-abandoned")

    # -- writing -----------------------------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        while not self._closed:
            if self._outboxes:  # the next flush, or at once when an answer starts or ends
                # Not `asyncio.wait_for`: on Python 3.11 it drops a cancel that lands as the wait ends, and
                # this loop would then outlive `close` (seen as a hung test when an answer ended that instant).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            self._wake.clear()
            try:
                await self._write()
            except self.conversations._errors() as exc:
                if self._closed:
                    return
                for box in self._outboxes.values():
                    box.failed()
                self.conversations.lost(exc)
                await asyncio.sleep(self.conversations.retry)

    async def _write(self) -> None:
        """One MULTI/EXEC: what is new of every answer streaming here, the heartbeats, the starts and ends."""
        boxes = list(self._outboxes.items())
        if any(not box.announced or box.job.done for _, box in boxes):
            await self.conversations.flush()  # the prompt (or the saved answer) is in Redis before the entry
        now = time.monotonic()
        beat = now - self._beat_at >= self.heartbeat
        pipeline = self.client.pipeline(transaction=True)
        written: list[tuple[Key, Outbox, bool]] = []
        for key, box in boxes:
            job, stream = box.job, self.stream_key(key)
            ended, first = job.done, not box.announced
            fields = box.entry(now)
            if ended and job.message is not None:
                fields["end"] = dumps(end_fields(job.message))
            if first:
                pipeline.delete(stream)  # the stream of the conversation's previous answer, if still there
            if fields:
                pipeline.xadd(stream, fields)  # type: ignore[arg-type]
            if ended or first or beat:
                pipeline.expire(stream, ENDED_TTL if ended else STREAM_TTL)
            if ended:
                pipeline.delete(self.running_key(key))
            elif beat or first:
                pipeline.set(self.running_key(key), self.origin, px=int(self.ttl * 1000))
            if first and not ended:  # (one that ended before its first write is saved: nothing to follow)
                pipeline.publish(self.channel, self._event("start", key))
            if ended:
                pipeline.publish(self.channel, self._event("end", key))
            written.append((key, box, ended))
        if not written:
            return
        await pipeline.execute()
        if beat:
            self._beat_at = now
        for key, box, ended in written:
            box.committed()
            if ended and self._outboxes.get(key) is box:
                del self._outboxes[key]

    def _event(self, event: str, key: Key, **more: Any) -> str:
        return dumps({"event": event, "origin": self.origin, "browser": key[0], "conversation": key[1], **more})

    async def _publish(self, event: str, key: Key, **more: Any) -> None:
        try:
            await self.client.publish(self.channel, self._event(event, key, **more))
        except self.conversations._errors() as exc:
            self.conversations.lost(exc)

    # -- hearing from the others -------------------------------------------------------------------------------
    async def _received(self, data: str) -> None:
        message = loads(data)
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        key = (str(message.get("browser")), str(message.get("conversation")))
        event = message.get("event")
        if event == "start":
            self._elsewhere[key] = str(message["origin"])
            self._missing.discard(key)
            if self.board is not None:
                self.board.remote_started(key)
        elif event == "stop":
            if (box := self._outboxes.get(key)) is not None:
                box.job.cancel(save=bool(message.get("save", True)))
        elif event == "end":
            self._elsewhere.pop(key, None)  # a follower reads the end entry from the stream
        elif event == "interrupted":
            self._elsewhere.pop(key, None)
            if (answer := self._followed(key)) is not None:
                try:
                    answer.finish(Message.from_dict(message.get("message") or {}))
                except (ValueError, TypeError, AttributeError):
                    answer.interrupt()

    async def _catch_up(self) -> None:
        """After (re)subscribing: which answers run elsewhere now (their start may have been missed)."""
        found: dict[Key, str] = {}
        prefix = f"{self.prefix}:running:"
        async for name in self.client.scan_iter(match=prefix + "*", count=500):
            browser, _, conversation = name.removeprefix(prefix).partition(":")
            origin = await self.client.get(name)
            if origin and origin != self.origin:
                found[(browser, conversation)] = origin
        started = set(found) - set(self._elsewhere)
        self._elsewhere.update(found)
        for key in started:
            if self.board is not None:
                self.board.remote_started(key)

    # -- following ---------------------------------------------------------------------------------------------
    def _followed(self, key: Key) -> RemoteAnswer | None:
        answer = self.board.get(*key) if self.board is not None else None
        return answer if isinstance(answer, RemoteAnswer) else None

    async def _read(self, answer: RemoteAnswer) -> None:
        stream = self.stream_key(answer.key)
        while not answer.done:
            try:
                replies = await self.client.xread({stream: answer.cursor}, count=READ_COUNT, block=READ_BLOCK_MS)
            except self.conversations._errors() as exc:
                self.conversations.lost(exc)
                await asyncio.sleep(self.conversations.retry)
                continue
            for _, entries in replies or []:
                for entry_id, fields in entries:
                    answer.cursor = entry_id
                    answer.apply(fields)
            if not replies and not answer.done and answer.key not in self._elsewhere:
                answer.interrupt()  # it ended elsewhere, and its stream is gone before we read its end

    # -- writers that went away --------------------------------------------------------------------------------
    async def _watch_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._watch()
            except self.conversations._errors() as exc:
                self.conversations.lost(exc)
            except Exception:  # a bug of ours must not end the watch
                log.exception("could not check the answers running elsewhere")

    async def _watch(self) -> None:
        """Mark the answers followed here as watched; take over those whose writer's heartbeat is gone."""
        followed = [key for key in self._elsewhere if (answer := self._followed(key)) is not None and answer.views]
        keys = list(self._elsewhere)
        if not keys:
            return
        pipeline = self.client.pipeline(transaction=False)
        for key in keys:
            pipeline.exists(self.running_key(key))
        for key in followed:
            pipeline.set(self.watched_key(key), self.origin, px=int(self.ttl * 1000))
        alive = (await pipeline.execute())[: len(keys)]
        for key, beating in zip(keys, alive, strict=True):
            if beating:
                self._missing.discard(key)
            elif key in self._missing:  # gone at two checks in a row: not a beat about to come
                await self._take_over(key)
            else:
                self._missing.add(key)

    async def _take_over(self, key: Key) -> None:
        """The writer is gone: the first instance to take its stream saves the answer as interrupted."""
        pipeline = self.client.pipeline(transaction=True)
        pipeline.xrange(self.stream_key(key))
        pipeline.delete(self.stream_key(key))
        entries, taken = await pipeline.execute()
        self._missing.discard(key)
        if not taken:
            if not await self.client.exists(self.running_key(key)):
                self._elsewhere.pop(key, None)  # another instance took it (its message follows), or it ended
            return
        self._elsewhere.pop(key, None)
        replay = RemoteAnswer(key, Conversation())
        for _, fields in entries:
            replay.apply(fields)
        message = replay.message if replay.done else replay.interrupted_message()
        assert message is not None
        if not replay.done:  # else the writer saved it and died just after
            message = await self._save(key, message)
        await self._publish("interrupted", key, message=message.to_dict())
        if (answer := self._followed(key)) is not None:
            answer.finish(message)

    async def _save(self, key: Key, message: Message) -> Message:
        """Add the interrupted answer to its conversation as stored (one writer: the one that took the stream);
        the answer as saved (the writer's own, if it saved it and died before it said so)."""
        browser, conversation_id = key
        record = self.conversations.conversations(browser).get(conversation_id)
        if record is None and not self.conversations.loaded(browser):
            raw = await self.client.get(self.conversations.conversation_key(browser, conversation_id))
            record = loads(raw)
        if not isinstance(record, dict):
            return message  # deleted meanwhile
        messages = record.get("messages") or []
        if messages and isinstance(last := messages[-1], dict) and last.get("role") == "assistant":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                return Message.from_dict(last)
        saved = json.loads(json.dumps(record))  # a copy: the held record changes only through `save`
        saved["messages"] = [*messages, message.to_dict()]
        saved["updated"] = time.time()
        self.conversations.save(browser, saved)
        log.warning("an answer of conversation %s was interrupted: its instance stopped", conversation_id)
        return message

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
