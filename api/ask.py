"""`POST /ask`: the seed tutorial's endpoint, served by the same process as the page.

Plain text (the default): the body is exactly the answer, written chunk by chunk. If the
provider fails after the first chunk, the status is already sent, so the body ends with
one line that starts with `ERROR_MARK`. With `Accept: text/event-stream` the answer comes
as Server-Sent Events: one `data:` event per chunk of the answer, `event: reasoning` events with the
model's reasoning (before and among them, never mixed into them), `event: step` with an agent's tool
call as JSON (`id`, `name`, `status`, `input`, `output`, `error`, `duration_s`, `at`; once when it starts,
again when it ends), then `event: done` with the figures, or `event: error` with a human message. The
plain-text body never holds the reasoning or the steps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator
from starlette.middleware.cors import CORSMiddleware

from llm.conversation import Message, Role
from llm.errors import ConfigError, ErrorKind, ProviderError, RivuletError
from llm.factory import ModelRegistry
from llm.reasoning import Part
from llm.settings import Settings
from llm.streaming import AnswerStats, stream_parts

log = logging.getLogger("rivulet.api")

#: Starts the last line of a plain-text answer that failed after its first chunk.
ERROR_MARK = "\n\n[rivulet error] "
LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
#: The HTTP status `/ask` answers with when the provider fails before the first chunk.
STATUS_BY_KIND: dict[ErrorKind, int] = {
    "unreachable": 503,
    "timeout": 504,
    "cut": 502,
    "protocol": 502,
    "auth": 401,
    "not_found": 502,
    "rate_limit": 429,
    "server_error": 502,
    "unexpected": 502,
    "engine_crashed": 503,
    "too_long": 413,
    "remote": 502,
}


def status_for(error: RivuletError) -> int:
    """The HTTP status for a failure before the first chunk (a configuration error is the server's fault: 500)."""
    return STATUS_BY_KIND[error.kind] if isinstance(error, ProviderError) else 500


def _valid_unicode(value: str | None) -> str | None:
    """JSON may carry lone surrogates (\\ud800), which no UTF-8 response can hold: refuse them."""
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("contains invalid Unicode (a lone surrogate)") from exc
    return value


class HistoryItem(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Role
    content: StrictStr

    @field_validator("content")
    @classmethod
    def _unicode(cls, value: str) -> str | None:
        return _valid_unicode(value)


class AskRequest(BaseModel):
    """The JSON body of `POST /ask`."""

    model_config = ConfigDict(extra="forbid")
    prompt: StrictStr = Field(description="The question to answer")
    history: list[HistoryItem] = Field(default_factory=list, description="Earlier turns, oldest first")
    system: StrictStr | None = Field(None, description="System prompt; the server's default when absent")
    model: StrictStr | None = Field(None, description="One of the server's model specs (--model, --models)")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature")
    max_tokens: int | None = Field(None, gt=0, le=1_000_000, description="Most tokens in the answer")

    def options(self) -> dict[str, float | int]:
        """The model call's options the request sets (the server's settings apply to the rest)."""
        chosen = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        return {name: value for name, value in chosen.items() if value is not None}

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt is empty or only whitespace")
        return _valid_unicode(value) or value

    @field_validator("system")
    @classmethod
    def _unicode(cls, value: str | None) -> str | None:
        return _valid_unicode(value)

    def size(self) -> int:
        return len(self.prompt) + sum(len(item.content) for item in self.history) + len(self.system or "")


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def sse_event(data: str, event: str | None = None) -> str:
    """One Server-Sent Event; multi-line data becomes several `data:` lines, as the spec wants."""
    lines = re.split(r"\r\n|\r|\n", data)
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in lines) + "\n"


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def _parse(request: Request, settings: Settings) -> AskRequest | Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _error(415, "Send the request as JSON with 'Content-Type: application/json'.")
    limit = settings.max_prompt_chars * 4 + 65_536  # UTF-8 worst case plus JSON overhead
    too_large = (
        f"The request is too large: prompt and history may have at most {settings.max_prompt_chars:,} characters."
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _error(413, too_large)
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return _error(413, too_large)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(422, 'The body is not valid JSON. Send {"prompt": "your question"}.')
    try:
        ask = AskRequest.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return _error(
            422, f'The request is not valid ({summary}). Send {{"prompt": "your question"}}.', details=problems
        )
    if ask.size() > settings.max_prompt_chars:
        limit_chars = settings.max_prompt_chars
        return _error(
            413, f"The prompt and history are too long ({ask.size():,} characters; the limit is {limit_chars:,})."
        )
    return ask


def register_api(app: FastAPI, registry: ModelRegistry, settings: Settings, cors_origins: Sequence[str] = ()) -> None:
    """Add `POST /ask` and CORS for the local origins (plus `cors_origins`) to `app`."""
    origins = list(cors_origins)
    if "*" in origins:
        log.warning("CORS allows every origin (*): any web page you visit can call /ask on this server.")
        app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["POST", "OPTIONS"], allow_headers=["*"])
    else:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_origin_regex=LOCAL_ORIGINS,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["*"],
        )

    @app.api_route("/ask", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def ask_wrong_method(request: Request) -> Response:
        response = _error(405, f'/ask answers POST only, not {request.method}. Send {{"prompt": "your question"}}.')
        response.headers["Allow"] = "POST"
        return response

    @app.post("/ask", include_in_schema=True, summary="Stream an answer as plain text or Server-Sent Events")
    async def ask_endpoint(request: Request) -> Response:
        parsed = await _parse(request, settings)
        if isinstance(parsed, Response):
            return parsed
        sse = _wants_sse(request)
        spec = parsed.model or settings.model
        if spec not in registry.specs:
            offered = ", ".join(registry.specs)
            return _error(422, f"This server does not offer the model {spec!r}. It offers: {offered}.")
        try:
            model = registry.get(spec)
        except ConfigError as exc:
            return _error(500, str(exc))
        stats = AnswerStats()
        parts = stream_parts(
            model,
            parsed.prompt,
            history=[Message(item.role, item.content) for item in parsed.history],
            system=parsed.system if parsed.system is not None else settings.system_prompt,
            stats=stats,
            options=parsed.options(),
            where=registry.describe(spec),
            context=registry.context(spec),
        )

        def shown(part: Part) -> bool:
            """What this response carries: every part as events, the answer only as plain text."""
            return sse or part.kind == "answer"

        def encode(part: Part) -> str:
            if not sse:
                return part.text
            if part.step is not None:
                return sse_event(json.dumps(part.step.to_dict(), ensure_ascii=False), "step")
            return sse_event(part.text, "reasoning" if part.kind == "reasoning" else None)

        # Wait for the first part it sends, so that a failing provider still gets a proper status.
        first: Part | None = None
        try:
            async for part in parts:  # leaving this loop does not close `parts`: `events` goes on with it
                if shown(part):
                    first = part
                    break
        except RivuletError as exc:
            await parts.aclose()
            status = status_for(exc)
            if sse:
                body = sse_event(json.dumps({"error": str(exc)}), "error")
                return Response(body, status_code=status, media_type="text/event-stream", headers=STREAM_HEADERS)
            return _error(status, str(exc))

        async def body() -> AsyncIterator[bytes]:
            async for text in events():
                # A model could still emit a lone surrogate: replace it instead of breaking the response.
                yield text.encode("utf-8", errors="replace")

        async def events() -> AsyncIterator[str]:
            # aclosing: a client that goes away cancels this generator, which closes the provider stream.
            async with contextlib.aclosing(parts):
                try:
                    if sse and stats.dropped_messages:
                        yield sse_event(json.dumps({"dropped_messages": stats.dropped_messages}), "context")
                    if first is not None:
                        yield encode(first)
                    async for part in parts:
                        if shown(part):
                            yield encode(part)
                except RivuletError as exc:
                    yield sse_event(json.dumps({"error": str(exc)}), "error") if sse else f"{ERROR_MARK}{exc}\n"
                    return
            if sse:
                yield sse_event(json.dumps(stats.to_dict()), "done")

        media_type = "text/event-stream; charset=utf-8" if sse else "text/plain; charset=utf-8"
        return StreamingResponse(body(), media_type=media_type, headers=STREAM_HEADERS)
