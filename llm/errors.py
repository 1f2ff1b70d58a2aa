"""Errors with one human sentence each. Raw exception text and keys never reach the user."""

from __future__ import annotations

from typing import Literal


class RivuletError(Exception):
    """Base class: `str(error)` is a sentence a user can act on."""


class ConfigError(RivuletError):
    """The configuration cannot work (unknown spec, missing key, missing file). CLI exit code 2."""


ErrorKind = Literal[
    "unreachable",
    "timeout",
    "cut",
    "protocol",
    "auth",
    "not_found",
    "rate_limit",
    "server_error",
    "unexpected",
    "engine_crashed",
    "too_long",
    "remote",
]


class ProviderError(RivuletError):
    """The model provider failed; `kind` says how (each face maps it to its own code, e.g. an HTTP status)."""

    def __init__(self, message: str, *, kind: ErrorKind = "unexpected") -> None:
        super().__init__(message[:1].upper() + message[1:])
        self.kind: ErrorKind = kind


# One sentence per kind of failure; `where` names the provider (a URL or "the local model").
def _unreachable(where: str) -> ProviderError:
    return ProviderError(
        f"Could not connect to {where}. Check that the server is running and the URL is right.",
        kind="unreachable",
    )


def _no_answer(where: str) -> ProviderError:
    return ProviderError(
        f"{where} did not answer in time. Check that it is running, or raise --idle-timeout.",
        kind="timeout",
    )


def _stalled(where: str) -> ProviderError:
    return ProviderError(
        f"{where} stopped sending for too long, so the answer was cut off. Try again or raise --idle-timeout.",
        kind="timeout",
    )


def _cut(where: str) -> ProviderError:
    return ProviderError(f"The connection to {where} broke off in the middle of the answer. Try again.", kind="cut")


def _malformed(where: str) -> ProviderError:
    return ProviderError(
        f"{where} sent a malformed stream that could not be read. The answer may be incomplete; try again.",
        kind="protocol",
    )


def _retry_after(response: object) -> str:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    return f" Retry after {value} s." if value else " Wait a moment and try again."


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def humanize(exc: BaseException, *, where: str = "the model provider", mid_answer: bool = False) -> RivuletError:
    """Turn any provider exception into a `RivuletError` with a message that says what to do.

    `where` names the provider (a URL or "the local model"); it must never contain a secret.
    `mid_answer` tells that part of the answer had already arrived, so a timeout is a stall
    and a connection error is a stream cut off.
    """
    if isinstance(exc, RivuletError):
        return exc
    import httpx
    import openai

    cause = exc.__cause__ or exc.__context__
    timeout = isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError)
    if timeout or isinstance(cause, httpx.TimeoutException):
        if mid_answer:
            return _stalled(where)
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) or isinstance(cause, httpx.ConnectTimeout):
            return ProviderError(
                f"Connecting to {where} timed out. Check that the server is up and reachable.",
                kind="timeout",
            )
        return _no_answer(where)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        if mid_answer or isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return _cut(where)
        return _unreachable(where)
    if isinstance(exc, openai.AuthenticationError):
        return ProviderError(
            f"{where} refused the API key (401). Check OPENAI_API_KEY (or RIVULET_API_KEY).", kind="auth"
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return ProviderError(f"{where} denied access (403). Check that your API key may use this model.", kind="auth")
    if isinstance(exc, openai.NotFoundError):
        return ProviderError(
            f"{where} does not know this model (404). Check the model name in --model.", kind="not_found"
        )
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(f"{where} is rate-limiting requests (429).{_retry_after(exc.response)}", kind="rate_limit")
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(
            f"{where} failed with an error ({exc.status_code}). Try again; if it persists, check the server's logs.",
            kind="server_error",
        )
    if isinstance(exc, openai.APIError) or "JSONDecodeError" in _names(exc):
        return _malformed(where)
    return ProviderError(
        f"{where} failed unexpectedly ({type(exc).__name__}). Try again; details are in the server log.",
        kind="unexpected",
    )
