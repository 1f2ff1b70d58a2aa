"""The NiceGUI internals Rivulet relies on, each checked for what our code assumes of it.

NiceGUI's minor version is pinned (requirements.txt) because of these. When an upgrade breaks one, the
test says which internal changed and which of our code uses it:
  ui/storage.py        Storage.path, Storage._create_persistent_dict and the module-global RedisPersistentDict
                       it calls, app.storage._users/_tabs, RedisPersistentDict's attributes, listener, task
                       names and log texts, serialization.dumps, background_tasks, core.is_loop_running
  ui/safe_markdown.py  ui.markdown._handle_content_change and the innerHTML prop the browser renders
  tests/conftest.py    background_tasks.lazy_tasks_running and running_tasks
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nicegui
import pytest
from nicegui import app, background_tasks, core, ui
from nicegui.persistence import FilePersistentDict, PersistentDict, RedisPersistentDict
from nicegui.persistence.serialization import dumps
from nicegui.storage import Storage
from nicegui.testing import User

from tests.support.page import wait_for
from tests.support.servers import free_port
from ui.safe_markdown import SafeMarkdown, render_markdown
from ui.storage import NICEGUI_REDIS_MESSAGES, _no_echo_redis_dict, use_data_dir

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


# -- storage: files, the data directory, and which class Storage builds --------------------------------------------
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


def test_storage_builds_redis_storage_from_the_module_global_we_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    """`watch_redis` replaces `nicegui.storage.RedisPersistentDict`: Storage must look it up when it builds one."""
    built: list[dict[str, Any]] = []

    class Recording:
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)

    monkeypatch.setattr(nicegui.storage, "RedisPersistentDict", Recording)
    monkeypatch.setattr(Storage, "redis_url", "redis://127.0.0.1:1")
    created = Storage._create_persistent_dict("user-abc")
    assert isinstance(created, Recording), (
        "Storage._create_persistent_dict no longer calls the module-global nicegui.storage.RedisPersistentDict"
    )
    assert built == [{"url": "redis://127.0.0.1:1", "id": "user-abc", "key_prefix": "nicegui:", "ttl": None}]


async def test_app_storage_keeps_each_browser_and_tab_storage_in_users_and_tabs(user: User) -> None:
    seen: dict[str, Any] = {}

    @ui.page("/internals")
    async def page(client: nicegui.Client) -> None:
        seen["user"] = app.storage.user
        await client.connected()
        seen["tab"] = app.storage.tab

    await user.open("/internals")
    await wait_for(lambda: "tab" in seen)
    users, tabs = getattr(app.storage, "_users", None), getattr(app.storage, "_tabs", None)
    assert isinstance(users, dict), "app.storage._users (every browser's storage) is gone"
    assert isinstance(tabs, dict), "app.storage._tabs (every tab's storage) is gone"
    assert any(storage is seen["user"] for storage in users.values()), "app.storage._users no longer holds them"
    assert any(storage is seen["tab"] for storage in tabs.values()), "app.storage._tabs no longer holds them"
    assert isinstance(app.storage.general, PersistentDict)


# -- RedisPersistentDict: what ui/storage.py reads, calls and overrides -----------------------------------------------
def test_redis_storage_has_the_attributes_we_read(saves: list[str]) -> None:
    data = redis_dict()
    for attribute in ("redis_client", "pubsub", "key", "ttl", "_listener_task", "last_modified", "url"):
        assert hasattr(data, attribute), f"RedisPersistentDict.{attribute} is gone (ui/storage.py uses it)"
    assert data.key == "nicegui:user-internals" and data.ttl is None and data._listener_task is None
    assert isinstance(data.last_modified, float), "ObservableDict.last_modified is no longer a time.time() stamp"
    before = data.last_modified
    data["x"] = 1
    assert data.last_modified >= before
    data.__dict__["_sent_payloads"] = []  # NoEchoRedisDict keeps its own attributes on the instance
    assert data.__dict__["_sent_payloads"] == []


def test_our_overrides_match_what_they_override() -> None:
    ours = _no_echo_redis_dict()
    assert issubclass(ours, RedisPersistentDict)
    for method in ("initialize", "publish", "_start_listening"):
        assert hasattr(RedisPersistentDict, method), f"RedisPersistentDict.{method} is gone (we override it)"
        assert names(getattr(ours, method)) == names(getattr(RedisPersistentDict, method)), (
            f"RedisPersistentDict.{method} takes other arguments now"
        )
    assert inspect.iscoroutinefunction(RedisPersistentDict.initialize), "RedisPersistentDict.initialize is not async"
    assert names(RedisPersistentDict.__init__) == ["self", "url", "id", "key_prefix", "ttl"]
    assert names(dumps)[:2] == ["data", "identifier"], "nicegui.persistence.serialization.dumps changed"
    assert json.loads(dumps({"a": [1, "ü"]}, "key")) == {"a": [1, "ü"]}


async def test_a_change_is_saved_by_a_lazy_task_named_after_the_key(nicegui_loop: None, saves: list[str]) -> None:
    data = redis_dict()
    data["conversations"] = {}
    assert saves == ["redis-nicegui:user-internals"], "RedisPersistentDict.publish names its save task otherwise"


async def test_the_listener_applies_every_payload_and_saves_it_again(nicegui_loop: None, saves: list[str]) -> None:
    """NiceGUI's own listener echoes: that is why `NoEchoRedisDict` exists. If this changes, ours may go."""
    data = redis_dict()
    data.pubsub = FakePubSub(
        [
            {"type": "subscribe", "data": 1},
            {"type": "message", "data": json.dumps({"conversations": {"c1": {}}}).encode()},
            {"type": "unsubscribe", "data": 0},
        ]
    )
    data._start_listening()
    task = data._listener_task
    assert isinstance(task, asyncio.Task), "RedisPersistentDict._start_listening no longer sets _listener_task"
    assert task.get_name() == "redis-listen-nicegui:user-internals"
    await task
    assert data.pubsub.channels == ["nicegui:user-internalschanges"], "NiceGUI's change channel is named otherwise"
    assert dict(data) == {"conversations": {"c1": {}}}
    assert saves == ["redis-nicegui:user-internals"], "NiceGUI's listener no longer saves what it received"


async def test_ours_applies_other_processes_payloads_without_saving_them_again(
    nicegui_loop: None, saves: list[str]
) -> None:
    data = redis_dict(_no_echo_redis_dict())
    mine = json.dumps({"conversations": {"mine": {}}})
    data._sent.append(mine)  # as if this process had published it
    data.pubsub = FakePubSub(
        [
            {"type": "message", "data": json.dumps({"conversations": {"theirs": {}}}).encode()},
            {"type": "message", "data": mine.encode()},
            {"type": "unsubscribe", "data": 0},
        ]
    )
    data._start_listening()
    await data._listener_task
    assert dict(data) == {"conversations": {"theirs": {}}}  # their change applied, our own echo skipped
    assert saves == []  # and nothing written back
    data["preferences"] = {}  # a change made here is saved
    assert saves == ["redis-nicegui:user-internals"]


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


# -- SafeMarkdown: the content hook and the prop the browser renders --------------------------------------------------
async def test_markdown_renders_through_handle_content_change_into_inner_html(user: User) -> None:
    assert names(ui.markdown._handle_content_change) == ["self", "content"], (
        "ui.markdown._handle_content_change(content) changed: SafeMarkdown overrides it"
    )
    assert "innerHTML: String" in (NICEGUI / "elements" / "markdown.js").read_text(), (
        "markdown.js no longer renders the innerHTML prop SafeMarkdown sets"
    )

    @ui.page("/markdown")
    def page() -> None:
        ui.label("markdown")

    await user.open("/markdown")
    assert user.client is not None
    updates: list[object] = []
    with user.client:
        plain = ui.markdown("*x* <b>y</b>")
        assert plain._props["innerHTML"] == "<p><em>x</em> <b>y</b></p>\n", (
            "ui.markdown no longer writes its HTML to _props['innerHTML']"
        )
        safe = SafeMarkdown("*x* <b>y</b>")
        assert safe._props["innerHTML"] == render_markdown("*x* <b>y</b>") == "<p><em>x</em> &lt;b&gt;y&lt;/b&gt;</p>\n"
        original = user.client.outbox.enqueue_update
        user.client.outbox.enqueue_update = lambda element: (updates.append(element), original(element))  # type: ignore[method-assign]
        try:
            safe.set_content("<i>z</i>")
        finally:
            user.client.outbox.enqueue_update = original  # type: ignore[method-assign]
    assert safe._props["innerHTML"] == "<p>&lt;i&gt;z&lt;/i&gt;</p>\n", (
        "setting the content no longer calls _handle_content_change"
    )
    assert safe in updates, "a change of _props['innerHTML'] no longer sends the element to the browser"
