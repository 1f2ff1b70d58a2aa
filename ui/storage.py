"""Where the page keeps conversations: the storage secret, the data directory and NiceGUI's Redis storage.

Conversations live in NiceGUI's `app.storage.user`: JSON files under `<data dir>/storage` by default, or Redis
when `NICEGUI_REDIS_URL` is set, so that several Rivulet processes share them. Every process behind one Redis
must sign the session cookie with the same secret (the same data directory, or `RIVULET_STORAGE_SECRET`).

A Redis that is unreachable at start-up stops Rivulet with one line (see `redis_problem`). A Redis that goes
away later costs one readable log line per outage instead of a traceback per save (`RedisWatch`): pages keep
working on what this process holds in memory, and when Redis is back, what changed meanwhile is written again.

This module imports NiceGUI lazily: `redis_problem` runs before NiceGUI is imported, because NiceGUI reads
`NICEGUI_REDIS_URL` and loads its shared storage from Redis at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

REDIS_URL_VARIABLE = "NICEGUI_REDIS_URL"
CHECK_INTERVAL = 2.0  # seconds between two pings of Redis while Rivulet runs
CHECK_TIMEOUT = 3.0
#: The messages NiceGUI logs when it cannot read from or listen to Redis (nicegui/persistence/redis_persistent_dict.py).
NICEGUI_REDIS_MESSAGES = ("Could not load data from Redis", "Unexpected error in Redis listener")

log = logging.getLogger("rivulet.storage")


def storage_secret(data_dir: Path, configured: SecretStr | None = None) -> str:
    """The secret that signs the browser's session cookie.

    `configured` (RIVULET_STORAGE_SECRET) wins; otherwise the secret is created on first run in the data
    directory (mode 600), never in the repository or the logs. Two processes that start at the same moment
    with the same data directory get the same secret.
    """
    if configured is not None:
        return configured.get_secret_value()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "storage_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    deadline = time.monotonic() + 2.0
    while not (secret := path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)  # another process created the file a moment ago and is writing it
    if not secret:
        raise OSError(f"{path} is empty: delete it and start Rivulet again")
    return secret


def use_data_dir(data_dir: Path) -> None:
    """Keep NiceGUI's per-browser storage files in `<data dir>/storage` (unless NICEGUI_STORAGE_PATH says otherwise).

    NiceGUI creates each storage file from the class attribute `Storage.path` (`app.storage.path` would only
    shadow it on one instance); with Redis, no file is written.
    """
    from nicegui.storage import Storage

    if "NICEGUI_STORAGE_PATH" not in os.environ:
        Storage.path = (data_dir / "storage").resolve()


# -- Redis ---------------------------------------------------------------------------------------------------------
def redis_url() -> str | None:
    """The Redis URL NiceGUI uses (NICEGUI_REDIS_URL), or None for file storage."""
    return os.environ.get(REDIS_URL_VARIABLE) or None


def redacted(url: str) -> str:
    """The URL without its password, fit for a message."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def redis_problem(url: str | None = None, timeout: float = CHECK_TIMEOUT) -> str | None:
    """Why the Redis of NICEGUI_REDIS_URL cannot hold the conversations, or None (also when it is not set)."""
    url = url or redis_url()
    if not url:
        return None
    try:
        import redis
    except ImportError:
        return f"{REDIS_URL_VARIABLE} needs the redis package: pip install 'nicegui[redis]'."
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout) as client:
            client.ping()
    except ValueError as exc:
        return f"{REDIS_URL_VARIABLE} is not a Redis URL ({_reason(exc)})."
    except redis.RedisError as exc:
        return (
            f"Redis at {redacted(url)} is not reachable ({_reason(exc)}). Start it, or unset {REDIS_URL_VARIABLE} "
            "to keep conversations in files."
        )
    return None


def _reason(exc: BaseException) -> str:
    return str(exc).rstrip(".") or type(exc).__name__


def _redis_error(record: logging.LogRecord) -> str | None:
    """What went wrong with Redis, if `record` is NiceGUI reporting a Redis failure; else None."""
    import redis

    about_redis = isinstance(record.msg, str) and record.msg.startswith(NICEGUI_REDIS_MESSAGES)
    exc = record.msg if isinstance(record.msg, BaseException) else (record.exc_info or (None, None))[1]
    if exc is None:
        return "could not load the stored data" if about_redis else None
    seen = set()
    while exc is not None and id(exc) not in seen:  # the Redis error may be the cause of another one
        seen.add(id(exc))
        if isinstance(exc, redis.RedisError) or (about_redis and isinstance(exc, OSError | TimeoutError)):
            return _reason(exc)
        exc = exc.__cause__ or exc.__context__
    return None  # anything else is a bug worth its traceback


class RedisWatch(logging.Filter):
    """One readable line when Redis goes away and one when it is back; resynchronisation in between.

    As a filter on NiceGUI's logger it swallows NiceGUI's Redis tracebacks (a failed background save, a dead
    change listener, a failed load); a ping every `interval` seconds notices when Redis is back.
    """

    def __init__(self, url: str, interval: float = CHECK_INTERVAL) -> None:
        super().__init__()
        self.url = url
        self.interval = interval
        self.down_since: float | None = None  # when the current outage began
        self.failures = 0

    def filter(self, record: logging.LogRecord) -> bool:
        reason = _redis_error(record)
        if reason is None:
            return True
        self.lost(reason)
        return False

    def lost(self, reason: str) -> None:
        self.failures += 1
        if self.down_since is not None:
            return
        self.down_since = time.time()
        log.warning(
            "Redis at %s went away (%s): conversations stay in this process's memory, not shared or saved, "
            "until it is back.",
            redacted(self.url),
            reason,
        )

    async def run(self) -> None:
        """Ping Redis for ever; on the way back, resynchronise NiceGUI's storage with it."""
        import redis.asyncio as aredis

        client = aredis.Redis.from_url(self.url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await client.ping()
                except (aredis.RedisError, OSError) as exc:
                    self.lost(_reason(exc))
                    continue
                if self.down_since is not None:
                    failures = self.failures
                    await self.resync(self.down_since)
                    if self.failures != failures:  # gone again while resynchronising: try again later
                        continue
                    self.down_since = None
                    log.warning("Redis at %s is back: conversations are shared and saved again.", redacted(self.url))
        finally:
            await client.aclose()

    async def resync(self, since: float) -> None:
        """After an outage: listen to Redis again, reload it, and write back what changed here since `since`.

        Per top-level key, a mapping (the conversations by id, the preferences) is merged with what Redis has,
        this process winning; anything else is taken from this process. The write-back is awaited here, not
        left to NiceGUI's deferred save, so that it is in Redis before "is back" is logged (a deferred save
        could land after a newer save of another process and overwrite it).
        """
        import redis
        from nicegui import app
        from nicegui.persistence import RedisPersistentDict

        storage = app.storage
        # NiceGUI keeps no public list of the per-browser and per-tab storages it holds in memory.
        held = [storage.general, *getattr(storage, "_users", {}).values(), *getattr(storage, "_tabs", {}).values()]
        for data in held:
            if not isinstance(data, RedisPersistentDict):
                continue
            changed = data.last_modified >= since
            listener = getattr(data, "_listener_task", None)
            mine = _plain(data) if changed else {}
            if listener is None or listener.done():  # NiceGUI's listener ended with the connection
                await data.initialize()  # reloads from Redis and listens again
            if not mine:
                continue
            with _quiet(data):
                for key, value in mine.items():
                    theirs = data.get(key)
                    both = isinstance(value, Mapping) and isinstance(theirs, Mapping)
                    data[key] = {**theirs, **value} if both else value
            try:
                await _write(data)
            except (redis.RedisError, OSError) as exc:  # Redis went away again: the next check tries again
                self.lost(_reason(exc))
                return


def _plain(value: Any) -> Any:
    """A copy made of plain dicts and lists, sharing nothing with NiceGUI's observable collections."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


async def _write(data: Any) -> None:
    """Write a NiceGUI Redis storage and tell the other processes, as its own deferred save does."""
    payload = json.dumps(_plain(data), ensure_ascii=False, default=str)
    pipeline = data.redis_client.pipeline()
    pipeline.set(data.key, payload, ex=data.ttl)
    pipeline.publish(data.key + "changes", payload)
    await pipeline.execute()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


@contextlib.contextmanager
def _quiet(data: Any) -> Iterator[None]:
    """Changes made to `data` by the current task inside this block are not saved by NiceGUI."""
    data._quiet = _current_task()
    try:
        yield
    finally:
        data._quiet = None


def _no_echo_redis_dict() -> type:
    """NiceGUI's Redis dict, except that no process applies its own publishes or echoes what it received.

    NiceGUI's `RedisPersistentDict` saves on every change, including the changes its listener applies from
    other processes and the data `initialize()` loads; and its listener also applies the process's *own*
    publishes when they come back. Two saves in quick succession (a prompt, then a fast answer) then lose
    the second: the echo of the first reverts the data before the second is written. Here a process saves
    only changes made in it, and its listener skips the payloads it published itself.
    NiceGUI's minor version is pinned for this (requirements.txt); `tests/test_nicegui_internals.py`
    checks the parts used.
    """
    from nicegui import background_tasks
    from nicegui.persistence import RedisPersistentDict
    from nicegui.persistence.serialization import dumps

    class NoEchoRedisDict(RedisPersistentDict):
        _quiet: asyncio.Task[Any] | None = None

        @property
        def _sent(self) -> deque[str]:
            """The payloads this process published most recently."""
            if "_sent_payloads" not in self.__dict__:
                self.__dict__["_sent_payloads"] = deque(maxlen=64)
            return self.__dict__["_sent_payloads"]

        async def initialize(self) -> None:
            with _quiet(self):
                await super().initialize()

        def publish(self) -> None:
            task = _current_task()
            if task is not None and (task is self._quiet or task is self._listener_task):
                return  # a change read from Redis: saving it again would be an echo

            async def backup() -> None:
                if not await self.redis_client.exists(self.key) and not self:
                    return
                payload = dumps(self, self.key)
                if self._sent and self._sent[-1] == payload:
                    return  # a queued save of what the last one already wrote (one change sets two keys)
                self._sent.append(payload)
                pipeline = self.redis_client.pipeline()
                pipeline.set(self.key, payload, ex=self.ttl)
                pipeline.publish(self.key + "changes", payload)
                await pipeline.execute()

            background_tasks.create_lazy_or_defer(backup(), name=f"redis-{self.key}")

        def _start_listening(self) -> None:
            async def listen() -> None:
                try:
                    await self.pubsub.subscribe(self.key + "changes")
                    async for message in self.pubsub.listen():
                        kind, raw = message["type"], message.get("data")
                        if kind == "message":
                            payload = raw.decode() if isinstance(raw, bytes) else str(raw)
                            if payload in self._sent:
                                continue  # our own save coming back: we already hold it, or something newer
                            new_data = json.loads(payload)
                            if new_data != self:
                                for key in set(self) - new_data.keys():
                                    del self[key]
                                self.update(new_data)
                        elif kind in ("unsubscribe", "punsubscribe") and raw == 0:
                            break
                except asyncio.CancelledError:
                    pass
                except Exception:
                    log.exception("Unexpected error in the Redis listener for %s", self.key)
                finally:
                    if self.pubsub.subscribed:
                        await self.pubsub.unsubscribe()

            def create_listener_task() -> None:
                self._listener_task = background_tasks.create(listen(), name=f"redis-listen-{self.key}")

            from nicegui import core

            if core.is_loop_running():
                create_listener_task()
            else:
                core.app.on_startup(create_listener_task)

    return NoEchoRedisDict


def watch_redis() -> RedisWatch | None:
    """With NICEGUI_REDIS_URL set: report Redis outages readably and recover from them (see `RedisWatch`).

    Also makes NiceGUI create its per-browser and per-tab Redis storages without echoes (`_no_echo_redis_dict`).
    """
    url = redis_url()
    if not url:
        return None
    import nicegui.storage
    from nicegui import app, background_tasks

    nicegui.storage.RedisPersistentDict = _no_echo_redis_dict()  # type: ignore[misc]  # used by Storage when called
    watch = RedisWatch(url)
    logging.getLogger("nicegui").addFilter(watch)
    app.on_startup(lambda: background_tasks.create(watch.run(), name="rivulet-redis-watch"))
    return watch
