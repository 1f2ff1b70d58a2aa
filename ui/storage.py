"""Where the page keeps conversations: a storage secret and NiceGUI's storage location."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from nicegui import app


def storage_secret(data_dir: Path) -> str:
    """The secret that signs the browser's session cookie, created on first run (mode 600).

    It lives in the data directory, never in the repository or the logs.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "storage_secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def use_data_dir(data_dir: Path) -> None:
    """Keep NiceGUI's per-browser storage files in the data directory (unless Redis is used)."""
    if "NICEGUI_STORAGE_PATH" not in os.environ:
        app.storage.path = (data_dir / "storage").resolve()
