"""Conversations in Redis, shared by several Rivulet instances: a key per conversation, atomic writes, change messages.

Keys (`rivulet:` is the prefix):
  rivulet:conv:<browser>:<conversation id>  the conversation, JSON (`Conversation.to_dict()`)
  rivulet:convs:<browser>                   sorted set: the browser's conversation ids, scored by their `updated`
  rivulet:browser:<browser>                 hash: "current" and "preferences", each JSON
  rivulet:changes:<browser>                 channel: {"origin", "conversations": [ids], "fields": [names]}

A save is one MULTI/EXEC (SET + ZADD + PUBLISH; a delete DEL + ZREM + PUBLISH), so two instances writing two
conversations of one browser never overwrite each other. Writes leave the page at once and go out from a
background task; what Redis refused (an outage) stays pending and goes out when it is back. Each instance
listens to every browser's channel; after each (re)subscription it reads again what it holds, so a change
published while it was not listening is not lost. A Redis that restarted (a new run id) gets back what the
instances hold (written only where Redis has nothing, so no newer write is undone); after a mere reconnection,
what Redis lacks was deleted elsewhere and stays deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from ui.conversation_store import MemoryConversations
from ui.storage import RedisWatch, redacted

log = logging.getLogger("rivulet.storage")

PREFIX = "rivulet"
RETRY = 2.0  # seconds between two attempts while Redis is away
TIMEOUT = 3.0
_MISSING = object()
#: A pending change: (browser, "conversation" or "field", id or name).
Key = tuple[str, str, str]


class RedisConversations(MemoryConversations):
    """Every browser's conversations in Redis; the browsers with a tab open here are also held in memory."""

    def __init__(
        self, url: str, watch: RedisWatch | None = None, *, prefix: str = PREFIX, retry: float = RETRY
    ) -> None:
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        super().__init__()
        self.url = url
        self.watch = watch
        self.prefix = prefix
        self.retry = retry
        # No retries inside redis-py: during an outage a write must fail fast and stay pending here.
        self.client = aredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self.origin = secrets.token_hex(8)  # names this process in its change messages
        self.listening = asyncio.Event()  # subscribed, and what is held was read again after subscribing
        self._pending: dict[Key, Any] = {}  # written here, not yet in Redis (a None conversation: deleted)
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        #: More channels the listener subscribes to, each with what handles its messages (the running answers').
        self.channels: dict[str, Callable[[str], Awaitable[None]]] = {}
        #: Run after each (re)subscription to `channels`, before the process counts as listening.
        self.on_listening: list[Callable[[], Awaitable[None]]] = []
        #: Run first when this backend closes (what uses its connections ends before them).
        self.on_close: list[Callable[[], Awaitable[None]]] = []

    # -- keys --------------------------------------------------------------------------------------------------
    def conversation_key(self, browser: str, conversation_id: str) -> str:
        return f"{self.prefix}:conv:{browser}:{conversation_id}"

    def index_key(self, browser: str) -> str:
        return f"{self.prefix}:convs:{browser}"

    def fields_key(self, browser: str) -> str:
        return f"{self.prefix}:browser:{browser}"

    def channel(self, browser: str) -> str:
        return f"{self.prefix}:changes:{browser}"

    # -- life --------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="rivulet-redis-write"),
            asyncio.create_task(self._listen_loop(), name="rivulet-redis-listen"),
        ]

    async def close(self) -> None:
        for before in self.on_close:
            await before()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # a cancel of `close` itself still goes through
        with contextlib.suppress(*self._errors()):
            await self.flush()
        await self.client.aclose()

    async def recover(self) -> None:
        """After an outage: write what is pending and wait until the listener is back (raises while Redis is not)."""
        await self.flush()
        async with asyncio.timeout(TIMEOUT + self.retry):  # not `wait_for`: see `RedisAnswerRelay._write_loop`
            await self.listening.wait()

    # -- what the page calls -------------------------------------------------------------------------------------
    async def load(self, browser: str) -> None:
        if self.loaded(browser):
            return
        try:
            conversations, fields = await self._read(browser)
        except self._errors() as exc:
            self.lost(exc)  # the listener reads it again once Redis is back
            conversations, fields = {}, {}
        if self.loaded(browser):  # another tab's load finished first
            return
        self._conversations[browser], self._fields[browser] = {}, {}
        self._apply(browser, conversations, fields, notify=False)
        for (owner, kind, name), value in self._pending.items():  # written here, not yet in Redis
            if owner == browser and kind == "field":
                self._fields[browser][name] = value
            elif owner == browser and value is not None:
                self._conversations[browser][name] = value

    def release(self, browser: str) -> None:
        if not any(key[0] == browser for key in self._pending):
            self._conversations.pop(browser, None)
            self._fields.pop(browser, None)

    def save(self, browser: str, record: dict[str, Any]) -> None:
        if self.loaded(browser):  # else the next load reads it from Redis
            super().save(browser, record)
        self._queue((browser, "conversation", record["id"]), record)

    def delete(self, browser: str, conversation_id: str) -> None:
        if self.loaded(browser):
            super().delete(browser, conversation_id)
        self._queue((browser, "conversation", conversation_id), None)

    def set_field(self, browser: str, name: str, value: Any) -> None:
        if self.loaded(browser):
            super().set_field(browser, name, value)
        self._queue((browser, "field", name), value)

    def _queue(self, key: Key, value: Any) -> None:
        self._pending[key] = value
        self._wake.set()

    # -- writing -------------------------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Write every pending change: one MULTI/EXEC, one change message per browser."""
        async with self._flushing:
            batch = dict(self._pending)
            if not batch:
                return
            by_browser: defaultdict[str, list[tuple[Key, Any]]] = defaultdict(list)
            for key, value in batch.items():
                by_browser[key[0]].append((key, value))
            pipeline = self.client.pipeline(transaction=True)
            for browser, items in by_browser.items():
                changed: dict[str, list[str]] = {"conversation": [], "field": []}
                for (_, kind, name), value in items:
                    changed[kind].append(name)
                    if kind == "field":
                        pipeline.hset(self.fields_key(browser), name, json.dumps(value, ensure_ascii=False))
                    elif value is None:
                        pipeline.delete(self.conversation_key(browser, name))
                        pipeline.zrem(self.index_key(browser), name)
                    else:
                        pipeline.set(self.conversation_key(browser, name), json.dumps(value, ensure_ascii=False))
                        pipeline.zadd(self.index_key(browser), {name: float(value.get("updated") or 0)})
                pipeline.publish(self.channel(browser), self._message(changed["conversation"], changed["field"]))
            await pipeline.execute()
            for key, value in batch.items():
                if self._pending.get(key, _MISSING) is value:  # not changed again meanwhile
                    del self._pending[key]

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except self._errors() as exc:
                self.lost(exc)
                await asyncio.sleep(self.retry)  # try again later; what failed stays pending
                self._wake.set()

    def _message(self, conversations: list[str], fields: list[str]) -> str:
        return json.dumps({"origin": self.origin, "conversations": conversations, "fields": fields})

    # -- reading -------------------------------------------------------------------------------------------------
    async def _read(
        self, browser: str, only: list[str] | None = None, with_fields: bool = True
    ) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any]]:
        """What Redis holds of a browser: all its conversations (or those of `only`, None if absent), its fields."""
        pipeline = self.client.pipeline(transaction=True)
        if only is None:
            pipeline.zrange(self.index_key(browser), 0, -1)
        if with_fields:
            pipeline.hgetall(self.fields_key(browser))
        replies = await pipeline.execute() if pipeline.command_stack else []
        ids = replies.pop(0) if only is None else only
        raw_fields = replies.pop(0) if with_fields else {}
        raw = await self.client.mget([self.conversation_key(browser, i) for i in ids]) if ids else []
        conversations: dict[str, dict[str, Any] | None] = {}
        for conversation_id, text in zip(ids, raw, strict=True):
            record = _loads(text)
            conversations[conversation_id] = record if isinstance(record, dict) else None
        fields = {name: value for name, text in raw_fields.items() if (value := _loads(text)) is not None}
        return conversations, fields

    def _apply(
        self,
        browser: str,
        conversations: dict[str, dict[str, Any] | None],
        fields: dict[str, Any],
        *,
        complete: bool = True,
        notify: bool = True,
    ) -> None:
        """Take over what Redis holds, but what is pending here; `complete`: absent from `conversations` = deleted."""
        held, held_fields = self._conversations.get(browser), self._fields.get(browser)
        if held is None or held_fields is None:
            return  # released meanwhile
        ids = set(conversations) | (set(held) if complete else set())
        changed = []
        for conversation_id in ids:
            if (browser, "conversation", conversation_id) in self._pending:
                continue
            record = conversations.get(conversation_id)
            if record != held.get(conversation_id):
                if record is None:
                    del held[conversation_id]
                else:
                    held[conversation_id] = record
                changed.append(conversation_id)
        fields_changed = False
        for name, value in fields.items():
            if (browser, "field", name) not in self._pending and held_fields.get(name) != value:
                held_fields[name] = value
                fields_changed = True
        if notify:
            for conversation_id in changed:
                self._changed(browser, conversation_id)
            if fields_changed:
                self._changed(browser, None)

    # -- listening -----------------------------------------------------------------------------------------------
    async def _listen_loop(self) -> None:
        run_id: str | None = None  # the Redis server's run (a new one after each restart)
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.psubscribe(self.channel("*"))
                if self.channels:
                    await pubsub.subscribe(*self.channels)
                while True:
                    message = await pubsub.get_message(timeout=self.retry)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        # Only a Redis that restarted (maybe empty) gets back what is held here; after a mere
                        # reconnection what Redis lacks was deleted elsewhere meanwhile, and stays deleted.
                        now = str((await self.client.info("server")).get("run_id", ""))
                        restarted, run_id = run_id is not None and now != run_id, now
                        await self._reload(restore=restarted)  # after subscribing: no change falls in between
                        if not self.channels:
                            self.listening.set()
                    elif message["type"] == "subscribe":
                        for catch_up in self.on_listening:
                            await catch_up()
                        self.listening.set()
                    elif message["type"] == "pmessage":
                        await self._received(message["channel"], message["data"])
                    elif message["type"] == "message" and (handle := self.channels.get(message["channel"])):
                        await handle(message["data"])
            except self._errors() as exc:
                self.listening.clear()
                self.lost(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self.retry)

    async def _received(self, channel: str, data: str) -> None:
        message = _loads(data)
        browser = channel.removeprefix(self.channel(""))
        if not isinstance(message, dict) or message.get("origin") == self.origin or not self.loaded(browser):
            return
        ids = [str(i) for i in message.get("conversations") or []]
        conversations, fields = await self._read(browser, only=ids, with_fields=bool(message.get("fields")))
        self._apply(browser, conversations, fields, complete=False)

    async def _reload(self, *, restore: bool) -> None:
        """Read again every browser held here; with `restore`, give Redis back what it lost (a restart)."""
        for browser in list(self._conversations):
            conversations, fields = await self._read(browser)
            if restore:
                await self._restore(browser, conversations, fields)
            self._apply(browser, conversations, fields)

    async def _restore(
        self, browser: str, conversations: dict[str, dict[str, Any] | None], fields: dict[str, Any]
    ) -> None:
        """Write what this process holds and Redis has not, only where Redis still has nothing (NX)."""
        pending = {(kind, name) for b, kind, name in self._pending if b == browser}
        lost = [
            record
            for conversation_id, record in self._conversations.get(browser, {}).items()
            if conversation_id not in conversations and ("conversation", conversation_id) not in pending
        ]
        lost_fields = {
            name: value
            for name, value in self._fields.get(browser, {}).items()
            if name not in fields and ("field", name) not in pending
        }
        if not lost and not lost_fields:
            return
        pipeline = self.client.pipeline(transaction=True)
        for record in lost:
            pipeline.set(self.conversation_key(browser, record["id"]), json.dumps(record, ensure_ascii=False), nx=True)
            pipeline.zadd(self.index_key(browser), {record["id"]: float(record.get("updated") or 0)}, nx=True)
            conversations[record["id"]] = record
        for name, value in lost_fields.items():
            pipeline.hsetnx(self.fields_key(browser), name, json.dumps(value, ensure_ascii=False))
            fields[name] = value
        pipeline.publish(self.channel(browser), self._message([r["id"] for r in lost], list(lost_fields)))
        await pipeline.execute()

    # -- outages -------------------------------------------------------------------------------------------------
    @staticmethod
    def _errors() -> tuple[type[BaseException], ...]:
        import redis

        return (redis.RedisError, OSError, asyncio.TimeoutError)

    def lost(self, exc: BaseException) -> None:
        """Redis failed: one line per outage (through the watch)."""
        if self.watch is not None:
            self.watch.lost(str(exc).rstrip(".") or type(exc).__name__)
        else:
            log.warning("Redis at %s: %s", redacted(self.url), exc)


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
