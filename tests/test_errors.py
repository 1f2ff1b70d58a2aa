"""`humanize` (llm/errors.py): every kind of provider failure becomes its one sentence and kind, without secrets."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import openai
import pytest

from llm.errors import ConfigError, ProviderError, RivuletError, humanize

WHERE = "the server at http://127.0.0.1:9/v1"
#: Provider messages can quote the key they refused: it must never reach the user's sentence.
CANARY = "sk-canary-5f0c3e9a1b"
REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions", headers={"Authorization": f"Bearer {CANARY}"})

UNREACHABLE = "Could not connect to {where}. Check that the server is running and the URL is right."
NO_ANSWER = "{where} did not answer in time. Check that it is running, or raise --idle-timeout."
CONNECT_TIMEOUT = "Connecting to {where} timed out. Check that the server is up and reachable."
STALLED = "{where} stopped sending for too long, so the answer was cut off. Try again or raise --idle-timeout."
CUT = "The connection to {where} broke off in the middle of the answer. Try again."
MALFORMED = "{where} sent a malformed stream that could not be read. The answer may be incomplete; try again."
FAILED = "{where} failed with an error ({status}). Try again; if it persists, check the server's logs."


def status(cls: type[openai.APIStatusError], code: int, **headers: str) -> openai.APIStatusError:
    body = {"error": {"message": f"Incorrect API key provided: {CANARY}", "code": code}}
    response = httpx.Response(code, request=REQUEST, headers=headers, json=body)
    return cls(f"Error code: {code} - {body}", response=response, body=body)


def caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


# name -> (the exception, whether part of the answer had arrived, the sentence, the kind)
CASES: dict[str, tuple[Callable[[], BaseException], bool, str, str]] = {
    "connect error": (lambda: httpx.ConnectError(f"refused {CANARY}"), False, UNREACHABLE, "unreachable"),
    "openai connection error": (
        lambda: openai.APIConnectionError(message=f"Connection error {CANARY}", request=REQUEST),
        False,
        UNREACHABLE,
        "unreachable",
    ),
    "connection error mid-answer": (
        lambda: openai.APIConnectionError(request=REQUEST),
        True,
        CUT,
        "cut",
    ),
    "connect error mid-answer": (lambda: httpx.ConnectError("refused"), True, CUT, "cut"),
    "read error": (lambda: httpx.ReadError(f"reset {CANARY}"), False, CUT, "cut"),
    "peer closed": (lambda: httpx.RemoteProtocolError("peer closed connection"), False, CUT, "cut"),
    "read timeout": (lambda: httpx.ReadTimeout(f"timed out {CANARY}"), False, NO_ANSWER, "timeout"),
    "openai timeout": (lambda: openai.APITimeoutError(request=REQUEST), False, NO_ANSWER, "timeout"),
    "builtin timeout": (lambda: TimeoutError(), False, NO_ANSWER, "timeout"),
    "timeout as the cause": (
        lambda: caused_by(RuntimeError("wrapped"), httpx.ReadTimeout("t")),
        False,
        NO_ANSWER,
        "timeout",
    ),
    "connect timeout": (lambda: httpx.ConnectTimeout("t"), False, CONNECT_TIMEOUT, "timeout"),
    "pool timeout": (lambda: httpx.PoolTimeout("t"), False, CONNECT_TIMEOUT, "timeout"),
    "openai timeout from a connect timeout": (
        lambda: caused_by(openai.APITimeoutError(request=REQUEST), httpx.ConnectTimeout("t")),
        False,
        CONNECT_TIMEOUT,
        "timeout",
    ),
    "read timeout mid-answer": (lambda: httpx.ReadTimeout("t"), True, STALLED, "timeout"),
    "connect timeout mid-answer": (lambda: httpx.ConnectTimeout("t"), True, STALLED, "timeout"),
    "401": (
        lambda: status(openai.AuthenticationError, 401),
        False,
        "{where} refused the API key (401). Check OPENAI_API_KEY (or RIVULET_API_KEY).",
        "auth",
    ),
    "403": (
        lambda: status(openai.PermissionDeniedError, 403),
        False,
        "{where} denied access (403). Check that your API key may use this model.",
        "auth",
    ),
    "404": (
        lambda: status(openai.NotFoundError, 404),
        False,
        "{where} does not know this model (404). Check the model name in --model.",
        "not_found",
    ),
    "429 with Retry-After": (
        lambda: status(openai.RateLimitError, 429, **{"Retry-After": "12"}),
        False,
        "{where} is rate-limiting requests (429). Retry after 12 s.",
        "rate_limit",
    ),
    "429 without Retry-After": (
        lambda: status(openai.RateLimitError, 429),
        False,
        "{where} is rate-limiting requests (429). Wait a moment and try again.",
        "rate_limit",
    ),
    "500": (lambda: status(openai.InternalServerError, 500), False, FAILED.replace("{status}", "500"), "server_error"),
    "400": (lambda: status(openai.BadRequestError, 400), False, FAILED.replace("{status}", "400"), "server_error"),
    "api error": (
        lambda: openai.APIError(f"bad chunk {CANARY}", REQUEST, body=None),
        False,
        MALFORMED,
        "protocol",
    ),
    "response validation": (
        lambda: openai.APIResponseValidationError(httpx.Response(200, request=REQUEST), body=None),
        False,
        MALFORMED,
        "protocol",
    ),
    "json decode": (lambda: json.JSONDecodeError(f"Expecting value {CANARY}", "{x", 1), True, MALFORMED, "protocol"),
    "anything else": (
        lambda: ValueError(f"something odd {CANARY}"),
        False,
        "{where} failed unexpectedly (ValueError). Try again; details are in the server log.",
        "unexpected",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_each_failure_becomes_its_sentence_and_kind(name: str) -> None:
    make, mid_answer, sentence, kind = CASES[name]
    exc = make()
    error = humanize(exc, where=WHERE, mid_answer=mid_answer)
    assert isinstance(error, ProviderError)
    expected = sentence.format(where=WHERE)
    assert str(error) == expected[:1].upper() + expected[1:]
    assert error.kind == kind
    assert CANARY not in str(error)
    assert "Traceback" not in str(error) and "\n" not in str(error)


def test_the_sentence_starts_with_a_capital_whatever_names_the_provider() -> None:
    assert str(humanize(httpx.ReadTimeout("t"), where="the local model")).startswith("The local model did not")
    assert str(humanize(httpx.ReadTimeout("t"))).startswith("The model provider did not answer in time.")
    assert str(ProviderError("lower case start")) == "Lower case start"
    assert ProviderError("x").kind == "unexpected"


def test_our_own_errors_pass_through_unchanged() -> None:
    for error in (ConfigError("Bad spec."), ProviderError("Already human.", kind="cut"), RivuletError("Ours.")):
        assert humanize(error, where=WHERE, mid_answer=True) is error
