"""Where the page keeps its data: the storage secret, the data directory, the conversations' backend, Redis checks.

Conversations live in files under `<data dir>/conversations` by default, or in Redis when `NICEGUI_REDIS_URL`
is set, so that several Rivulet processes share them (`open_conversations`; the key layout is in
`ui.redis_store`). NiceGUI's `app.storage.user` keeps only the login and the dark mode (files under
`<data dir>/storage`, or NiceGUI's own Redis key). Every process behind one Redis must sign the session cookie
with the same secret (the same data directory, or `RIVULET_STORAGE_SECRET`).

A Redis that is unreachable at start-up stops Rivulet with one line (see `redis_problem`). A Redis that goes
away later costs one readable log line per outage instead of a traceback per save (`RedisWatch`): pages keep
working on what this process holds in memory, and when Redis is back, what changed meanwhile is written again.

This module imports NiceGUI lazily: `redis_problem` runs before NiceGUI is imported, because NiceGUI reads
`NICEGUI_REDIS_URL` and loads its shared storage from Redis at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from ui.conversation_store import Conversations

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
        #: Awaited when Redis answers again after an outage, before "is back" is logged (raises if it cannot).
        self.recover: Callable[[], Awaitable[None]] | None = None

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
        """Ping Redis for ever; on the way back, let `recover` resynchronise before saying so."""
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
                    try:
                        if self.recover is not None:
                            await self.recover()
                    except (aredis.RedisError, OSError, TimeoutError) as exc:
                        self.lost(_reason(exc))
                    if self.failures != failures:  # gone again while resynchronising: try again later
                        continue
                    self.down_since = None
                    log.warning("Redis at %s is back: conversations are shared and saved again.", redacted(self.url))
        finally:
            await client.aclose()


def open_conversations(data_dir: Path) -> Conversations:
    """Where this process keeps conversations: Redis with NICEGUI_REDIS_URL set, else files in the data directory.

    With Redis, NiceGUI's log of its own Redis failures (`app.storage.user`, which keeps the login and the dark
    mode) goes through the same `RedisWatch`, and the watch runs once the server has started.
    """
    from nicegui import app

    url = redis_url()
    if not url:
        from ui.conversation_store import FileConversations

        conversations: Conversations = FileConversations(data_dir / "conversations")
    else:
        from nicegui import background_tasks

        from ui.redis_store import RedisConversations

        watch = RedisWatch(url)
        logging.getLogger("nicegui").addFilter(watch)
        redis_conversations = RedisConversations(url, watch)
        watch.recover = redis_conversations.recover
        app.on_startup(lambda: background_tasks.create(watch.run(), name="rivulet-redis-watch"))
        conversations = redis_conversations
    app.on_startup(conversations.start)
    app.on_shutdown(conversations.close)
    return conversations
