"""The typed parts of one answer's stream: reasoning text, answer text, and the steps of an agent.

`llm.streaming.stream_parts` yields them; the page, the command line and `/ask` consume them. A part of
text is never empty. A step part carries the whole state of one tool call each time it changes (running,
then done or error), so a consumer can show the newest state without keeping its own bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

PartKind = Literal["reasoning", "answer", "step"]
StepStatus = Literal["running", "done", "error"]

#: How much of a tool's input or output a step keeps (a tool may return a whole document).
STEP_TEXT_LIMIT = 4000


def short_text(value: Any, limit: int = STEP_TEXT_LIMIT) -> str:
    """`value` as one readable string for a step card: text as is, data as compact JSON, cut at `limit`."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Step:
    """One tool call of an agent: what it was asked, what it returned or how it failed, how long it took."""

    id: str  #: unique within the answer (the run id of the tool call)
    name: str  #: the tool's name
    status: StepStatus = "running"
    input: str = ""  #: the arguments, as text (`short_text`)
    output: str | None = None  #: the result, as text, once done
    error: str | None = None  #: one human sentence, when the tool failed
    duration: float | None = None  #: seconds, once over
    at: int = 0  #: characters of answer text before the step: where it sits in the answer

    def finished(
        self, status: StepStatus, *, output: str | None = None, error: str | None = None, duration: float | None = None
    ) -> Step:
        """This step, over: done with its output, or failed with one human sentence."""
        seconds = round(duration, 3) if duration is not None else None
        return replace(self, status=status, output=output, error=error, duration=seconds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        status = data.get("status")
        duration = data.get("duration")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or "tool"),
            status=status if status in ("running", "done", "error") else "error",
            input=short_text(data.get("input") or ""),
            output=data["output"] if isinstance(data.get("output"), str) else None,
            error=data["error"] if isinstance(data.get("error"), str) else None,
            duration=float(duration) if isinstance(duration, (int, float)) else None,
            at=int(data["at"]) if isinstance(data.get("at"), int) and data["at"] >= 0 else 0,
        )


@dataclass(frozen=True)
class Part:
    """A piece of one answer's stream: reasoning text, answer text (never empty), or a step's new state."""

    kind: PartKind
    text: str = ""
    step: Step | None = None


def merge_parts(parts: Iterable[Part]) -> list[Part]:
    """`parts` with neighbours of the same text kind joined: the same content, as few parts as possible."""
    merged: list[Part] = []
    for part in parts:
        if part.kind == "step":
            merged.append(part)
        elif merged and merged[-1].kind == part.kind:
            merged[-1] = Part(part.kind, merged[-1].text + part.text)
        elif part.text:
            merged.append(part)
    return merged


def text_of(parts: Iterable[Part], kind: Literal["reasoning", "answer"]) -> str:
    """All the text of one kind, e.g. `text_of(parts, "answer")`."""
    return "".join(part.text for part in parts if part.kind == kind)


def latest_steps(parts: Iterable[Part]) -> list[Step]:
    """The newest state of each step, in the order the steps started."""
    steps: dict[str, Step] = {}
    for part in parts:
        if part.step is not None:
            steps[part.step.id] = part.step
    return list(steps.values())
