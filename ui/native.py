"""`--native`: a desktop window through pywebview on Qt WebEngine (`make native-deps`)."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys

FIX = "run `make native-deps`, or drop --native and use the browser."
#: Libraries Qt WebEngine's X11 window loads at run time; `make native-deps` installs their Debian packages.
QT_X11_LIBRARIES = (
    "libnss3.so",
    "libxkbcommon-x11.so.0",
    "libxcb-cursor.so.0",
    "libxcb-icccm.so.4",
    "libxcb-image.so.0",
    "libxcb-keysyms.so.1",
    "libxcb-render-util.so.0",
    "libEGL.so.1",
)


def native_problem() -> str | None:
    """Why a native window cannot open here (one line that says what to do), or None when it can."""
    find = importlib.util.find_spec
    if find("webview") is None:
        return f"--native needs pywebview and a GUI toolkit: {FIX}"
    qt = find("qtpy") is not None and find("PyQt6") is not None and find("PyQt6.QtWebEngineWidgets") is not None
    if not qt and find("gi") is None:
        return f"--native needs Qt WebEngine (PyQt6-WebEngine) or GTK for pywebview: {FIX}"
    linux = sys.platform.startswith("linux")
    if linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "--native needs a graphical display (DISPLAY is not set). Drop --native and open the page in a browser."
    if qt and linux:
        missing = []
        for library in QT_X11_LIBRARIES:
            try:
                ctypes.CDLL(library)
            except OSError:
                missing.append(library)
        if missing:
            return f"--native needs system libraries that are missing ({', '.join(missing)}): {FIX}"
    return None


def prepare_native() -> None:
    """Environment for the window process, set before NiceGUI starts it."""
    os.environ.setdefault("PYWEBVIEW_GUI", "qt")  # what `make native-deps` installs; GTK remains the fallback
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")  # Chromium's sandbox refuses to run as root
