"""The entries of a running answer's stream: what the instance writing it appends per flush, as plain strings.

One entry per flush holds only what is new since the last one, so the stream (and the Redis traffic) grows with
the answer, not with the number of flushes:

  m    the first entry: JSON {"model", "system", "options", "alternatives"}: what the answer is asked with
  a    answer text that arrived since the previous entry      A  the whole answer so far, instead
  r    reasoning text that arrived since the previous entry   R  the whole reasoning so far, instead
  s    JSON list of the tool calls that started or ended since the previous entry (`Step.to_dict()`)
  f    JSON figures, about once a second: elapsed "e", first chunk after "t1", chunks "n", characters "c",
       reasoning seconds "rs", thinking "th", waiting signal "sg"
  end  the last entry: JSON of the saved message (`Message.to_dict()`) but its text and reasoning, which the
       entries before hold

The whole-text forms follow a write that failed (Redis away, maybe restarted empty): a reader that already has
the beginning keeps it and takes the rest, one that has nothing gets it all.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from llm.conversation import Message
from llm.steps import Step

if TYPE_CHECKING:
    from ui.jobs import AnswerJob

#: Seconds between two figures entries (the status line of a follower).
FIGURES_INTERVAL = 1.0


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class Outbox:
    """What of one answer streaming here is already in its stream, and the next entry to append."""

    def __init__(self, job: AnswerJob) -> None:
        self.job = job
        self.announced = False  # the first entry (with "m") is in
        self.whole = False  # the next entry carries the whole text (a write failed)
        self._sent_parts = (0, 0)  # parts of the answer and of the reasoning in the stream
        self._sent_steps: dict[str, Step] = {}
        self._figures_at = 0.0
        self._sent_signal: str | None = None
        self._pending: tuple[tuple[int, int], dict[str, Step], float, str | None] | None = None

    def entry(self, now: float | None = None) -> dict[str, str]:
        """The fields of the next entry (empty: nothing new); `committed()` once it is written."""
        job = self.job
        now = time.monotonic() if now is None else now
        fields: dict[str, str] = {}
        if not self.announced:
            fields["m"] = dumps(
                {
                    "model": job.spec,
                    "system": job.system,
                    "options": job.options,
                    "alternatives": [message.to_dict() for message in job.alternatives],
                }
            )
        answers, thoughts = len(job.parts), len(job.reasoning_parts)
        sent_answers, sent_thoughts = self._sent_parts
        if self.whole:
            if answers:
                fields["A"] = job.text
            if thoughts:
                fields["R"] = job.reasoning
        else:
            if answers > sent_answers:
                fields["a"] = "".join(job.parts[sent_answers:])
            if thoughts > sent_thoughts:
                fields["r"] = "".join(job.reasoning_parts[sent_thoughts:])
        steps = dict(job._steps)
        changed = [step.to_dict() for key, step in steps.items() if self.whole or self._sent_steps.get(key) != step]
        if changed:
            fields["s"] = dumps(changed)
        signal = None if job.signal is None else job.signal.value
        figures_due = bool(fields) and now - self._figures_at >= FIGURES_INTERVAL
        if figures_due or not self.announced or signal != self._sent_signal:
            fields["f"] = dumps(figures(job))
        self._pending = ((answers, thoughts), steps, now if "f" in fields else self._figures_at, signal)
        return fields

    def committed(self) -> None:
        """The entry from the last `entry()` is in the stream."""
        if self._pending is not None:
            self._sent_parts, self._sent_steps, self._figures_at, self._sent_signal = self._pending
            self._pending = None
        self.announced = True
        self.whole = False

    def failed(self) -> None:
        """The write did not go through (Redis may have lost the stream): the next write starts it again, whole."""
        self._pending = None
        if self.announced:
            self.whole, self.announced = True, False


def end_fields(message: Message) -> dict[str, Any]:
    """The saved message for the "end" entry: all but what the entries before already hold."""
    data = message.to_dict()
    data.pop("reasoning", None)
    data["content"] = ""
    return data


def figures(job: AnswerJob) -> dict[str, Any]:
    stats = job.stats
    return {
        "e": round(stats.elapsed, 3),
        "t1": None if stats.time_to_first_chunk is None else round(stats.time_to_first_chunk, 3),
        "n": stats.chunks,
        "c": stats.chars,
        "rs": None if stats.reasoning_s is None else round(stats.reasoning_s, 3),
        "th": stats.thinking,
        "sg": None if job.signal is None else job.signal.value,
    }
