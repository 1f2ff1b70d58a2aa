"""A step of an agent's run: one tool call with its input, its result or error, and how long it took.

Steps are plain data (no LangChain types) so that the page, the command line, `/ask` and the saved
conversation all carry the same thing. `at` places the step in the answer: the number of answer
characters that came before it, so the page can show the card where the call happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

StepStatus = Literal["running", "done", "error"]

#: Most characters of a step's input or output kept (a tool can return a whole web page).
MAX_STEP_TEXT = 4_000


def clip(text: str, limit: int = MAX_STEP_TEXT) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def as_text(value: Any) -> str:
    """A tool's input or output as readable text: strings as they are, the rest as JSON where it can be."""
    content = getattr(value, "content", value)  # a ToolMessage's content
    if isinstance(content, str):
        return clip(content)
    if isinstance(content, list) and content and all(hasattr(item, "page_content") for item in content):
        return clip("\n".join(f"- {one_line(item.page_content)}" for item in content))  # a retriever's documents
    try:
        return clip(json.dumps(content, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return clip(repr(content))


@dataclass(frozen=True)
class Step:
    """One tool call of an agent's run, as it is now (a running step is replaced when it ends)."""

    id: str
    name: str
    status: StepStatus = "running"
    input: str = ""
    output: str = ""
    error: str | None = None
    #: Seconds from the call to its result or error (None while it runs).
    duration_s: float | None = None
    #: Answer characters that came before the step.
    at: int = 0

    def ended(self, *, output: str = "", error: str | None = None, duration_s: float | None = None) -> Step:
        """This step, finished with `output` (or failed with `error`)."""
        status: StepStatus = "error" if error is not None else "done"
        return replace(self, status=status, output=output, error=error, duration_s=duration_s)

    def line(self) -> str:
        """One human line: 'search {"query": "x"} → 3 results (0.21 s)'."""
        took = f" ({took_text(self.duration_s)})" if self.duration_s is not None else ""
        call = f"{self.name} {one_line(self.input)}".rstrip()
        if self.status == "error":
            return f"{call} failed: {one_line(self.error or '')}{took}"
        if self.status == "running":
            return f"{call} …"
        return f"{call} → {one_line(self.output)}{took}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        if not isinstance(data, Mapping) or not all(isinstance(data.get(key), str) for key in ("id", "name")):
            raise ValueError("a step needs an id and a name")
        status = data.get("status")
        duration = data.get("duration_s")
        return cls(
            id=data["id"],
            name=data["name"],
            status=status if status in ("running", "done", "error") else "done",
            input=str(data.get("input") or ""),
            output=str(data.get("output") or ""),
            error=None if data.get("error") is None else str(data["error"]),
            duration_s=float(duration) if isinstance(duration, int | float) else None,
            at=int(data.get("at") or 0),
        )


def took_text(seconds: float) -> str:
    """'0.21 s'; '< 0.01 s' for a call quicker than the figure can say."""
    return "< 0.01 s" if seconds < 0.005 else f"{seconds:.2f} s"


def one_line(text: str, limit: int = 120) -> str:
    """`text` on one line, at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
