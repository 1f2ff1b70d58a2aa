"""Where the conversations of every browser are kept: one record per conversation, plus a few fields per browser.

`Conversations` is the interface the page uses; `MemoryConversations` keeps them in this process only (tests),
`FileConversations` in one JSON file per conversation (the default, one instance), and
`ui.redis_store.RedisConversations` in Redis, shared by several instances. A record is the plain dict of
`Conversation.to_dict()`; a browser's fields are "current" (the conversation a visit opens) and "preferences".

Every backend holds the browsers that have a tab open in memory, so that the page reads synchronously; writes
touch one conversation (or one field), never a whole browser.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("rivulet.storage")

#: Called with (browser id, conversation id) when another process changed that conversation; with
#: (browser id, None) when it changed the browser's fields.
ChangeListener = Callable[[str, str | None], None]

FIELDS = ("current", "preferences")


class Conversations(Protocol):
    """The conversations of every browser, as one process reads and writes them."""

    on_change: ChangeListener | None

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def load(self, browser: str) -> None: ...
    def loaded(self, browser: str) -> bool: ...
    def release(self, browser: str) -> None: ...
    def conversations(self, browser: str) -> Mapping[str, dict[str, Any]]: ...
    def fields(self, browser: str) -> Mapping[str, Any]: ...
    def save(self, browser: str, record: dict[str, Any]) -> None: ...
    def delete(self, browser: str, conversation_id: str) -> None: ...
    def set_field(self, browser: str, name: str, value: Any) -> None: ...


class MemoryConversations:
    """Conversations held in this process only; the base of the backends that also keep them elsewhere."""

    def __init__(self) -> None:
        self._conversations: dict[str, dict[str, dict[str, Any]]] = {}
        self._fields: dict[str, dict[str, Any]] = {}
        self.on_change: ChangeListener | None = None

    async def start(self) -> None:
        """Begin background work (listening to other processes), once the event loop runs."""

    async def close(self) -> None:
        """End background work; whatever was saved is kept."""

    async def load(self, browser: str) -> None:
        """Make the browser's conversations available to the synchronous methods (a page calls it first)."""
        self._conversations.setdefault(browser, {})
        self._fields.setdefault(browser, {})

    def loaded(self, browser: str) -> bool:
        return browser in self._conversations

    def release(self, browser: str) -> None:
        """No tab of this browser is left here: its data may leave memory (it stays stored)."""

    def conversations(self, browser: str) -> Mapping[str, dict[str, Any]]:
        """The browser's conversation records by id."""
        return self._conversations.get(browser, {})

    def fields(self, browser: str) -> Mapping[str, Any]:
        return self._fields.get(browser, {})

    def save(self, browser: str, record: dict[str, Any]) -> None:
        """Store one conversation record (it carries its id and its `updated` time)."""
        self._conversations.setdefault(browser, {})[record["id"]] = record

    def delete(self, browser: str, conversation_id: str) -> None:
        self._conversations.setdefault(browser, {}).pop(conversation_id, None)

    def set_field(self, browser: str, name: str, value: Any) -> None:
        self._fields.setdefault(browser, {})[name] = value

    def _changed(self, browser: str, conversation_id: str | None) -> None:
        """Tell the listener that another process changed something of `browser`."""
        if self.on_change is not None:
            try:
                self.on_change(browser, conversation_id)
            except Exception:  # the page's trouble must not stop the listener
                log.exception("could not show a change of browser %s", browser)


#: Characters safe in a file name on every system; other ids are hashed.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def file_name(identifier: str) -> str:
    return identifier if _SAFE_NAME.fullmatch(identifier) else hashlib.sha256(identifier.encode()).hexdigest()[:32]


def write_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` so that a reader (or a crash) sees the old file or the new one, not half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileConversations(MemoryConversations):
    """`<root>/<browser>/c-<conversation>.json`, one file per conversation, and `<root>/<browser>/browser.json`."""

    BROWSER_FILE = "browser.json"

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def _folder(self, browser: str) -> Path:
        return self.root / file_name(browser)

    async def load(self, browser: str) -> None:
        if self.loaded(browser):
            return
        folder = self._folder(browser)
        conversations: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("c-*.json")) if folder.is_dir() else []:
            data = _read_json(path)
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                conversations[data["id"]] = data
        self._conversations[browser] = conversations
        self._fields[browser] = self._read_fields(browser)

    def _read_fields(self, browser: str) -> dict[str, Any]:
        data = _read_json(self._folder(browser) / self.BROWSER_FILE)
        return data if isinstance(data, dict) else {}

    def release(self, browser: str) -> None:
        self._conversations.pop(browser, None)  # the files have it all
        self._fields.pop(browser, None)

    def save(self, browser: str, record: dict[str, Any]) -> None:
        write_atomically(self._folder(browser) / f"c-{file_name(record['id'])}.json", record)
        if self.loaded(browser):  # else the next load reads it
            super().save(browser, record)

    def delete(self, browser: str, conversation_id: str) -> None:
        (self._folder(browser) / f"c-{file_name(conversation_id)}.json").unlink(missing_ok=True)
        if self.loaded(browser):
            super().delete(browser, conversation_id)

    def set_field(self, browser: str, name: str, value: Any) -> None:
        fields = {**(self.fields(browser) if self.loaded(browser) else self._read_fields(browser)), name: value}
        write_atomically(self._folder(browser) / self.BROWSER_FILE, fields)
        if self.loaded(browser):
            super().set_field(browser, name, value)


def _read_json(path: Path) -> Any:
    """The JSON in `path`; None if it is missing or unreadable (logged: a file we did not write)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("skipped the unreadable file %s", path)
        return None
