"""`main.py --native`: a real pywebview window (Qt WebEngine) under Xvfb opens the chat and streams an answer.

The prompt is typed into the window with xdotool (real X11 input); what the window shows is read through
Qt WebEngine's DevTools port (QTWEBENGINE_REMOTE_DEBUGGING), so the test sees the answer grow in the window
itself, not in some other client. Skipped when `make native-deps` has not been run (no pywebview/Qt in the
venv, or no Xvfb/xdotool). Without a display `--native` exits 2 with one line: see tests/test_cli.py.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import ROOT, free_port

MAIN = str(ROOT / "main.py")
PROMPT = "Tell me about rivers"
X_TOOLS = ("Xvfb", "xdotool", "xwininfo")

pytestmark = pytest.mark.timeout(240)


def native_stack_missing() -> str | None:
    """Why this machine cannot run the native-window test, or None."""
    if importlib.util.find_spec("webview") is None:
        return "pywebview is not installed in the venv (run `make native-deps`)"
    if importlib.util.find_spec("PyQt6") is None or importlib.util.find_spec("PyQt6.QtWebEngineWidgets") is None:
        return "PyQt6-WebEngine is not installed in the venv (run `make native-deps`)"
    if missing := [tool for tool in X_TOOLS if shutil.which(tool) is None]:
        return f"{', '.join(missing)} not installed (`make native-deps` as root installs xvfb, xdotool, x11-utils)"
    return None


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # PYTEST_CURRENT_TEST would switch NiceGUI's ui.run into its test mode; no developer settings, no Wayland.
    skip = ("RIVULET_", "OPENAI_", "PYTEST_", "NICEGUI_", "QTWEBENGINE_", "PYWEBVIEW_", "WAYLAND_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return {**env, "RIVULET_DATA_DIR": str(tmp_path / "data"), **extra}


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def xvfb(log: Path) -> Iterator[str]:
    """A private Xvfb on a free display number (Xvfb picks it: -displayfd); yields ':N'."""
    read_fd, write_fd = os.pipe()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                raise RuntimeError(f"Xvfb did not start (exit code {proc.poll()}):\n{tail(log)}")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def native_app(display: str, port: int, devtools_port: int, log: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """`main.py --native` in its own process group (server, window process, Chromium helpers), killed at the end."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, MAIN, "--native", "--model", "fake:chunks=300,rate=60", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=app_env(cwd, DISPLAY=display, QTWEBENGINE_REMOTE_DEBUGGING=f"127.0.0.1:{devtools_port}"),
            cwd=cwd,  # no developer .env
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the window process and Chromium helpers, if any outlived it


def wait_for(what: str, check, timeout: float, proc: subprocess.Popen, log: Path, interval: float = 0.2):
    """Poll `check()` until it returns something truthy; fail early, with the app's output, if the app exits."""
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if proc.poll() is not None:
            pytest.fail(f"main.py --native exited with code {proc.returncode} before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s; main.py --native said:\n{tail(log)}")
        time.sleep(interval)


def x11(display: str, *args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "DISPLAY": display}, timeout=20)
    return result.stdout if result.returncode == 0 else ""


@contextlib.contextmanager
def devtools(websocket_url: str) -> Iterator[Callable[[str], Any]]:
    """Just enough of the Chrome DevTools Protocol to evaluate JavaScript in the window's page."""
    from websockets.sync.client import connect

    ids = itertools.count(1)
    with connect(websocket_url, max_size=None, open_timeout=10) as socket:

        def evaluate(expression: str) -> Any:
            request_id = next(ids)
            params = {"expression": expression, "returnByValue": True}
            socket.send(json.dumps({"id": request_id, "method": "Runtime.evaluate", "params": params}))
            while True:
                reply = json.loads(socket.recv(timeout=10))
                if reply.get("id") == request_id:
                    result = reply.get("result", {})
                    if "exceptionDetails" in result:
                        raise RuntimeError(f"{expression!r} failed in the window: {result['exceptionDetails']}")
                    return result.get("result", {}).get("value")

        yield evaluate


def page_socket_url(devtools_port: int, app_url: str) -> str | None:
    """The DevTools websocket of the window's page once it shows the app, else None."""
    try:
        pages = httpx.get(f"http://127.0.0.1:{devtools_port}/json/list", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return next((p["webSocketDebuggerUrl"] for p in pages if p.get("url", "").startswith(app_url)), None)


def test_native_window_opens_and_streams_an_answer(tmp_path: Path) -> None:
    if problem := native_stack_missing():
        pytest.skip(problem)
    port, devtools_port = free_port(), free_port()
    log = tmp_path / "app.log"
    with xvfb(tmp_path / "xvfb.log") as display, native_app(display, port, devtools_port, log, tmp_path) as proc:
        # 1. A real top-level X11 window named Rivulet is mapped (visible) on the display.
        find_window = ["xdotool", "search", "--onlyvisible", "--name", "^Rivulet$"]
        window = wait_for("Rivulet window", lambda: x11(display, *find_window).split(), 90, proc, log)[-1]
        info = x11(display, "xwininfo", "-id", window)
        assert "IsViewable" in info, f"the Rivulet window is not mapped: {info}"
        corner = re.search(r"Absolute upper-left X:\s*(-?\d+).*?Absolute upper-left Y:\s*(-?\d+)", info, re.S)
        assert corner, f"no window position in: {info}"

        # 2. The window's web view shows the chat page served by this app.
        app_url = f"http://127.0.0.1:{port}/"
        socket_url = wait_for("chat page in the window", lambda: page_socket_url(devtools_port, app_url), 60, proc, log)
        with devtools(socket_url) as evaluate:
            box = "JSON.stringify(document.querySelector('textarea')?.getBoundingClientRect())"
            rect = json.loads(wait_for("prompt box", lambda: evaluate(box), 30, proc, log))
            assert evaluate("document.title") == "Rivulet"

            # 3. Type the prompt with real X11 input: click into the textarea, type, Enter.
            x = int(corner[1]) + int(rect["x"] + rect["width"] / 2)  # the web view fills the window
            y = int(corner[2]) + int(rect["y"] + rect["height"] / 2)
            x11(display, "xdotool", "mousemove", "--sync", str(x), str(y), "click", "1")
            x11(display, "xdotool", "type", "--delay", "25", PROMPT)
            typed = "document.querySelector('textarea').value"
            wait_for("typed prompt in the window", lambda: evaluate(typed) == PROMPT, 15, proc, log)
            before = evaluate("document.body.innerText")
            assert PROMPT not in before
            x11(display, "xdotool", "key", "Return")

            # 4. The answer grows in the window for seconds (300 chunks at 60/s), then stays as it is.
            samples: list[tuple[float, int]] = []  # (seconds after Enter, characters on the page) at each change
            start = time.monotonic()
            while time.monotonic() - start < 45:
                text = evaluate("document.body.innerText")
                now = time.monotonic() - start
                if not samples or len(text) != samples[-1][1]:
                    samples.append((now, len(text)))
                elif len(text) > len(before) + 1000 and now - samples[-1][0] > 2.0:
                    break  # unchanged for 2 s: the answer is complete
                time.sleep(0.1)
        assert proc.poll() is None, f"the app exited while answering:\n{tail(log)}"

    assert PROMPT in text, "the prompt typed into the window was not sent as a message"
    answering = [(t, length) for t, length in samples if length > len(before) + len(PROMPT)]
    steps = sum(later > earlier for (_, earlier), (_, later) in itertools.pairwise(answering))
    assert steps >= 5, f"the answer did not grow in steps: {samples}"
    assert answering[-1][0] - answering[0][0] >= 2.0, f"the answer appeared at once, not streamed: {samples}"
    assert len(text) > len(before) + 1000, f"the answer is too short: {len(text) - len(before)} characters"
