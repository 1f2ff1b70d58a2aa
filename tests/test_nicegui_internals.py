"""The NiceGUI internals Rivulet relies on, each checked for what our code assumes of it.

NiceGUI's minor version is pinned (requirements.txt) because of these. When an upgrade breaks one, the
test says which internal changed and which of our code uses it:
  ui/storage.py        Storage.path (where app.storage.user's files go) and the texts NiceGUI logs when its
                       Redis storage fails (RedisWatch filters them); the conversations use no NiceGUI storage
  ui/safe_markdown.py  ui.markdown._handle_content_change and the innerHTML prop the browser renders
  tests/conftest.py    background_tasks.lazy_tasks_running and running_tasks
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nicegui
import pytest
from nicegui import background_tasks, core
from nicegui.persistence import FilePersistentDict, RedisPersistentDict
from nicegui.storage import Storage

from tests.support.servers import free_port
from ui.storage import NICEGUI_REDIS_MESSAGES, use_data_dir

NICEGUI = Path(nicegui.__file__).parent


def names(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


class Records(logging.Handler):
    """Collects what NiceGUI's own logger ("nicegui") emits, whatever propagation is set to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def nicegui_log() -> Iterator[Records]:
    records = Records()
    logger = logging.getLogger("nicegui")
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)


class FakePubSub:
    """Stands in for redis-py's PubSub: hands the listener `messages`, records subscriptions."""

    def __init__(self, messages: list[dict[str, Any]], fail: BaseException | None = None) -> None:
        self.messages = messages
        self.fail = fail
        self.channels: list[str] = []
        self.subscribed = False

    async def subscribe(self, channel: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.channels.append(channel)

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        for message in self.messages:
            yield message

    async def unsubscribe(self) -> None:
        self.subscribed = False


def redis_dict(cls: type = RedisPersistentDict, name: str = "user-internals") -> Any:
    """A Redis storage pointed at a closed port on 127.0.0.1: nothing connects until it is used."""
    return cls(url=f"redis://127.0.0.1:{free_port()}", id=name)


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the save tasks Redis storages schedule (not run: nothing listens on their port)."""
    scheduled: list[str] = []

    def create_lazy_or_defer(awaitable: Any, *, name: str) -> None:
        scheduled.append(name)
        awaitable.close()  # type: ignore[attr-defined]

    assert names(background_tasks.create_lazy_or_defer) == ["awaitable", "name"], (
        "background_tasks.create_lazy_or_defer(awaitable, *, name) changed"
    )
    monkeypatch.setattr(background_tasks, "create_lazy_or_defer", create_lazy_or_defer)
    return scheduled


@pytest.fixture
async def nicegui_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """NiceGUI schedules its tasks on `core.loop`: this test's loop (as if the server ran)."""
    monkeypatch.setattr(core, "loop", asyncio.get_running_loop())


# -- storage: the files of app.storage.user, and what NiceGUI logs when its Redis fails ------------------------------
def test_storage_files_are_made_from_the_class_attribute_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(Storage.path, Path), "nicegui.storage.Storage.path is no longer a class attribute Path"
    monkeypatch.setattr(Storage, "path", Storage.path)  # restored afterwards
    monkeypatch.delenv("NICEGUI_STORAGE_PATH", raising=False)
    monkeypatch.setattr(Storage, "redis_url", None)
    use_data_dir(tmp_path)
    created = Storage._create_persistent_dict("user-abc")
    assert isinstance(created, FilePersistentDict), "Storage._create_persistent_dict no longer makes file storage"
    assert created.filepath == (tmp_path / "storage" / "storage-user-abc.json").resolve(), (
        "Storage._create_persistent_dict no longer builds its file name from Storage.path"
    )


async def test_redis_failures_are_logged_with_the_texts_we_filter(
    nicegui_loop: None, saves: list[str], nicegui_log: Records
) -> None:
    data = redis_dict()  # nothing listens on its port
    await data.initialize()
    data.pubsub = FakePubSub([], fail=RuntimeError("the connection broke"))
    data._start_listening()
    await data._listener_task
    messages = [(record.name, record.levelno, record.getMessage()) for record in nicegui_log.records]
    assert messages == [
        ("nicegui", logging.WARNING, "Could not load data from Redis with key nicegui:user-internals"),
        ("nicegui", logging.ERROR, "Unexpected error in Redis listener for nicegui:user-internals"),
    ]
    for prefix, (_, _, message) in zip(NICEGUI_REDIS_MESSAGES, messages, strict=True):
        assert message.startswith(prefix), f"NiceGUI now logs {message!r}: update NICEGUI_REDIS_MESSAGES"


def test_a_failed_background_task_is_logged_with_the_exception_as_the_message(nicegui_log: Records) -> None:
    """`RedisWatch` recognises a failed save by `record.msg` being the Redis exception (NiceGUI's default handler)."""
    import redis

    error = redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    core.app.handle_exception(error)
    (record,) = nicegui_log.records
    assert record.msg is error, "NiceGUI's default exception handler no longer logs the exception itself"


def test_background_tasks_and_core_as_used() -> None:
    assert names(background_tasks.create)[:2] == ["awaitable", "coroutine"] and "name" in names(background_tasks.create)
    assert isinstance(background_tasks.lazy_tasks_running, dict), "background_tasks.lazy_tasks_running changed"
    assert isinstance(background_tasks.running_tasks, set), "background_tasks.running_tasks changed"
    assert callable(core.is_loop_running) and names(core.app.on_startup) == ["handler"]
