"""A streaming client of `POST /ask` (SSE), used by `main.py ask --url`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from llm.errors import ProviderError, humanize


async def stream_from_server(
    url: str, prompt: str, *, system: str | None = None, token: str | None = None, read_timeout: float = 60.0
) -> AsyncIterator[str]:
    """Yield the answer's chunks from a running Rivulet server at `url`."""
    endpoint = url.rstrip("/") + "/ask"
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload: dict[str, str] = {"prompt": prompt}
    if system:
        payload["system"] = system
    where = f"the Rivulet server at {url}"
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(read_timeout, connect=10.0)) as client,
            client.stream("POST", endpoint, json=payload, headers=headers) as response,
        ):
            if response.status_code != 200:
                await response.aread()
                raise ProviderError(_error_message(response, where), status=response.status_code)
            event, data = "message", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line:
                    if data:
                        text = "\n".join(data)
                        if event == "error":
                            raise ProviderError(json.loads(text).get("error", "The server reported an error."))
                        if event == "message":
                            yield text
                    event, data = "message", []
    except httpx.HTTPError as exc:
        raise humanize(exc, where=where) from exc


def _error_message(response: httpx.Response, where: str) -> str:
    text = response.text
    for line in text.splitlines():
        if line.startswith("data:"):
            text = line[5:].strip()
            break
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return f"{where} answered with status {response.status_code}."
