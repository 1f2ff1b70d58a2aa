"""`main.py ask`: stream one answer to stdout, from a model or from a running Rivulet server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import TextIO

from llm.errors import ConfigError, RivuletError
from llm.factory import ModelRegistry
from llm.settings import Settings
from llm.streaming import stream_answer

EXIT_OK, EXIT_PROVIDER, EXIT_CONFIG = 0, 1, 2


async def _chunks(settings: Settings, prompt: str, url: str | None) -> AsyncIterator[str]:
    if url:
        from api.client import stream_from_server

        token = settings.password.get_secret_value() if settings.password else None  # RIVULET_PASSWORD
        async for chunk in stream_from_server(url, prompt, system=settings.system_prompt, token=token):
            yield chunk
        return
    registry = ModelRegistry(settings)
    model = registry.get()
    answer = stream_answer(
        model, prompt, system=settings.system_prompt, where=registry.describe(), context=registry.context()
    )
    async for chunk in answer:
        yield chunk


async def ask(settings: Settings, prompt: str, *, url: str | None = None, out: TextIO = sys.stdout) -> int:
    """Print the answer as it streams (flushed per chunk). Returns the process exit code."""
    if not prompt.strip():
        print("error: the prompt is empty. Pass some text, or '-' to read it from stdin.", file=sys.stderr)
        return EXIT_CONFIG
    wrote = ""
    try:
        async for chunk in _chunks(settings, prompt, url):
            out.write(chunk)
            out.flush()
            wrote = chunk
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RivuletError as exc:
        if wrote and not wrote.endswith("\n"):
            out.write("\n")
            out.flush()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROVIDER
    if wrote and not wrote.endswith("\n"):
        out.write("\n")
        out.flush()
    return EXIT_OK
