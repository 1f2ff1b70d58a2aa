"""Password protection, on when `RIVULET_PASSWORD` is set (and required off 127.0.0.1).

Follows NiceGUI's `examples/authentication`: a middleware lets a request through when the browser's
session is logged in (`app.storage.user["login"]` holds the password's fingerprint, set by the `/login` page
in `ui/login_page.py`, and it must match the current password's, so changing RIVULET_PASSWORD ends every
login) or when it sends `Authorization: Bearer <password>`. Everything else is refused, except the login page itself and
NiceGUI's static assets and websocket: a page request is redirected to `/login`, any other request
gets `401 {"error": ...}`. Wrong passwords are rate-limited per client address (`429`): the address uvicorn
reports, which is the X-Forwarded-For client only for requests from a trusted proxy (--forwarded-allow-ips).

The password is only ever compared (in constant time); it is never logged, echoed or stored: the session
keeps an HMAC-SHA256 of it, keyed with the storage secret.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from nicegui import __version__, app
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from api.settings import ServerSettings
from llm.errors import ConfigError

log = logging.getLogger("rivulet.auth")

LOGIN_PATH = "/login"
#: Reachable without logging in: what the login page needs to render and talk to the server.
PUBLIC_PREFIXES = (f"/_nicegui/{__version__}/", "/_nicegui_ws/")
PUBLIC_PATHS = {LOGIN_PATH, "/favicon.ico"}
#: The key of `app.storage.user` that holds the fingerprint of the password the browser logged in with.
SESSION_KEY = "login"
#: The fingerprint's key when no storage secret is given (tests); the server passes its storage secret.
DEFAULT_SALT = b"rivulet-login-v1"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthDecision:
    enabled: bool
    warning: str | None = None


def decide(settings: ServerSettings) -> AuthDecision:
    """Whether to require the password, and what to warn about. Refuses an unprotected public address."""
    exposed = not is_loopback(settings.host)
    if settings.no_auth:
        if exposed:
            return AuthDecision(
                False,
                f"warning: --no-auth: anyone who can reach {settings.host}:{settings.port} can use this chat "
                "and its model, without a password.",
            )
        if settings.password is not None:
            return AuthDecision(False, "warning: --no-auth: RIVULET_PASSWORD is ignored, no login is required.")
        return AuthDecision(False)
    if settings.password is not None:
        return AuthDecision(True)
    if exposed:
        raise ConfigError(
            f"Serving on {settings.host} lets other machines use this chat: set RIVULET_PASSWORD "
            "(in the environment or .env), or pass --no-auth to serve it without a password."
        )
    return AuthDecision(False)


class FailureLimiter:
    """At most `limit` wrong passwords per client address within `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, ip: str) -> deque[float]:
        now = time.monotonic()
        for key in list(self._failures):  # forget addresses whose failures are all old
            failures = self._failures[key]
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            if not failures:
                del self._failures[key]
        return self._failures[ip]

    def wait(self, ip: str) -> int:
        """Seconds until `ip` may try again; 0 when it may try now."""
        failures = self._recent(ip)
        if len(failures) < self.limit:
            return 0
        return max(1, math.ceil(failures[-self.limit] + self.window - time.monotonic()))

    def failed(self, ip: str) -> None:
        self._recent(ip).append(time.monotonic())
        if len(self._failures[ip]) == self.limit:
            log.warning("%d wrong passwords from %s: refusing it for up to %.0f s.", self.limit, ip, self.window)

    def succeeded(self, ip: str) -> None:
        self._failures.pop(ip, None)


class PasswordCheck:
    """The password, compared in constant time, and the rate limit shared by the page and the API."""

    def __init__(
        self, password: SecretStr, limiter: FailureLimiter | None = None, salt: str | bytes = DEFAULT_SALT
    ) -> None:
        self._secret = password.get_secret_value().encode()
        self.limiter = limiter or FailureLimiter()
        key = salt.encode() if isinstance(salt, str) else salt
        #: What a logged-in session stores: it names this password without revealing it (HMAC-SHA256, keyed with
        #: the storage secret, so a leaked session store cannot be checked against guesses without that secret).
        self.fingerprint = hmac.new(key, self._secret, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "PasswordCheck(**********)"

    def accepts(self, stored: Any) -> bool:
        """Whether a session's stored login is one with the current password (not a login with an earlier one)."""
        return isinstance(stored, str) and hmac.compare_digest(stored, self.fingerprint)

    def logged_in(self) -> bool:
        """Whether the current request's browser session logged in with the current password."""
        return self.accepts(app.storage.user.get(SESSION_KEY))

    def check(self, ip: str, candidate: str | bytes) -> bool:
        """Compare `candidate` (text, or UTF-8 bytes) and record the outcome. Call when `limiter.wait(ip)` is 0."""
        if hmac.compare_digest(candidate.encode() if isinstance(candidate, str) else candidate, self._secret):
            self.limiter.succeeded(ip)
            return True
        self.limiter.failed(ip)
        return False


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def too_many(wait: int) -> str:
    return f"Too many wrong passwords: wait {wait} s before trying again."


class AuthMiddleware:
    """Lets a request through when it is public, logged in, or carries the right bearer token.

    A pure ASGI middleware (not `BaseHTTPMiddleware`), so a streaming `/ask` response passes
    through untouched and a client that disconnects still cancels the model at once.
    """

    def __init__(self, app: ASGIApp, passwords: PasswordCheck) -> None:
        self.app = app
        self.passwords = passwords

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(Request(scope))
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)

    def refusal(self, request: Request) -> Response | None:
        """The response that refuses `request`, or None to let it through."""
        path = request.url.path
        if request.method == "OPTIONS" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        if self.passwords.logged_in():
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            if request.method in {"GET", "HEAD"}:
                return RedirectResponse(LOGIN_PATH)
            return _error(
                401,
                "This Rivulet server needs its password: send 'Authorization: Bearer <RIVULET_PASSWORD>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        ip = request.client.host if request.client else ""
        if wait := self.passwords.limiter.wait(ip):
            return _error(429, too_many(wait), {"Retry-After": str(wait)})
        # Starlette decodes headers as latin-1: encoding back gives the bytes sent, UTF-8 for a non-ASCII password.
        if not self.passwords.check(ip, token.strip().encode("latin-1")):
            return _error(401, "Wrong password in the bearer token.", {"WWW-Authenticate": "Bearer"})
        return None


def logout() -> RedirectResponse:
    app.storage.user.pop(SESSION_KEY, None)
    app.storage.user.pop("authenticated", None)  # what sessions stored before fingerprints
    return RedirectResponse(LOGIN_PATH)


def register_auth(fastapi_app: FastAPI, server: ServerSettings, salt: str | bytes = DEFAULT_SALT) -> PasswordCheck:
    """Require `server.password` for every page and endpoint, and add `/logout`; returns the check for the login page.

    `salt` keys the password's fingerprint in the session: the storage secret, the same on every instance.
    Call it before other middleware (e.g. CORS) is added, so that those wrap it and still see every request.
    """
    assert server.password is not None
    passwords = PasswordCheck(server.password, salt=salt)
    fastapi_app.add_middleware(AuthMiddleware, passwords=passwords)
    fastapi_app.get("/logout", include_in_schema=False)(logout)
    return passwords
