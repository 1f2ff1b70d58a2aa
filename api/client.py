"""A streaming client of `POST /ask` (Server-Sent Events, read with httpx-sse), used by `main.py ask --url`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping

import httpx
from httpx_sse import SSEError, aconnect_sse

from llm.errors import ProviderError, humanize
from llm.reasoning import Part
from llm.steps import Step


async def stream_from_server(
    url: str,
    prompt: str,
    *,
    system: str | None = None,
    token: str | None = None,
    options: Mapping[str, object] | None = None,
    read_timeout: float = 60.0,
) -> AsyncIterator[str]:
    """Yield the answer's chunks from a running Rivulet server at `url` (its reasoning left out).

    `options` are further fields of the request: `model` (one the server offers), `temperature`, `max_tokens`.
    """
    parts = stream_parts_from_server(
        url, prompt, system=system, token=token, options=options, read_timeout=read_timeout
    )
    async with contextlib.aclosing(parts):
        async for part in parts:
            if part.kind == "answer":
                yield part.text


async def stream_parts_from_server(
    url: str,
    prompt: str,
    *,
    system: str | None = None,
    token: str | None = None,
    options: Mapping[str, object] | None = None,
    read_timeout: float = 60.0,
) -> AsyncIterator[Part]:
    """Yield the answer's parts from a running Rivulet server at `url`: its `data:` events as answer parts,
    its `event: reasoning` events as reasoning parts, `event: step` as step parts; other events (`context`,
    `done`) are skipped.

    Takes the same arguments as `stream_from_server`.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload: dict[str, object] = {"prompt": prompt, **(options or {})}
    if system:
        payload["system"] = system
    where = f"the Rivulet server at {url}"
    started = False  # some of the answer came: a silence now is a stalled answer, not a server that never answered
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(read_timeout, connect=10.0)) as client,
            aconnect_sse(client, "POST", url.rstrip("/") + "/ask", json=payload, headers=headers) as source,
        ):
            if source.response.status_code != 200:
                await source.response.aread()
                raise ProviderError(_error_message(source.response, where), kind="remote")
            async for event in source.aiter_sse():
                if event.event == "error":
                    raise ProviderError(_error_text(event.data) or "The server reported an error.", kind="remote")
                if event.event == "message":
                    started = True
                    yield Part("answer", event.data)
                elif event.event == "reasoning" and event.data:
                    started = True
                    yield Part("reasoning", event.data)
                elif event.event == "step" and (step := _step(event.data)) is not None:
                    yield Part("step", "", step)
    except SSEError as exc:  # not an event stream: an old server, or a proxy's error page
        raise ProviderError(f"{where} did not answer with an event stream. Check the URL.", kind="protocol") from exc
    except httpx.HTTPError as exc:
        raise humanize(exc, where=where, mid_answer=started) from exc


def _step(data: str) -> Step | None:
    """A step event's tool call (None for one this client cannot read: a newer server's, say)."""
    try:
        return Step.from_dict(json.loads(data))
    except (ValueError, TypeError):
        return None


def _error_text(data: str) -> str | None:
    try:
        return str(json.loads(data)["error"])
    except (ValueError, KeyError, TypeError):
        return None


def _error_message(response: httpx.Response, where: str) -> str:
    """The human sentence of an error response (JSON `{"error": ...}` or an SSE error event)."""
    text = response.text
    for line in text.splitlines():
        if line.startswith("data:"):
            text = line[5:].strip()
            break
    return _error_text(text) or f"{where} answered with status {response.status_code}."
