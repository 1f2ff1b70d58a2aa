"""Split streaming Markdown into finished blocks and an open tail.

Finished blocks never change again, so the page renders each once and never re-sends it;
only the open tail is updated while the answer streams. A boundary is only taken where
rendering the parts separately gives the same result as rendering the whole text: never
inside a code fence or a display math block (`$$` first on a line, see `display_math_opens`),
never between two items of a list, never before an indented line.
A code fence at column 0 is a block of its own as soon as its first line is complete, so a
long one can be shown line by line while it streams (see `open_fence`).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^ {0,3}([-*+]|\d{1,9}[.)])(\s|$)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:")
#: markdown2's fenced code block opener (backticks only, an optional language), here at column 0.
_OPENER = re.compile(r"^(`{3,})[ \t]*([\w+-]*)[ \t]*\n\Z")
_QUOTE = re.compile(r"^ {0,3}>")
#: A table's delimiter row, as markdown2 reads it: `|---|:--:|`, `--|--`.
_DELIMITER_ROW = re.compile(r"^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*\n\Z")


def fence_closes(line: str, fence: str) -> bool:
    """Whether `line` closes a code fence opened with `fence` (the same character, at least as many)."""
    match = _FENCE.match(line)
    return bool(
        match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip(" \n`~")
    )


def starts_list_item(text: str) -> bool:
    """Whether `text` starts with a list item's marker (after a blank line, it may still belong to the list above)."""
    return bool(_LIST_ITEM.match(text))


def display_math_opens(line: str) -> int:
    """Where `line` opens display math that goes on over the next lines (`$$` first, not closed on it), else -1.

    Such a block ends at the next `$$`; a blank line before it means it was no math at all (LaTeX allows
    none in display math), so one stray `$$` holds at most one paragraph. `ui.safe_markdown` reads the
    same rule, so a split never falls inside a formula.
    """
    stripped = line.lstrip(" \t")
    if not stripped.startswith("$$"):
        return -1
    start = len(line) - len(stripped)
    return -1 if "$$" in line[start + 2 :] else start


class _Scan:
    """The line scan that finds block boundaries, resumable: each call reads only the lines added since."""

    def __init__(self) -> None:
        self.end = 0  # the last boundary found: text before it is made of finished blocks
        self.pos = 0  # where the next line starts
        self.fence: str | None = None
        self.top_fence: str | None = None  # the fence of an open markdown2 code block at column 0
        self.in_list = False
        self.in_quote = False  # a fence after a quote's line without a blank line belongs to the quote
        self.blank_run = False
        self.ref_defs = False
        self.math_from: int | None = None  # the line that opened display math not closed yet
        self.not_math = -1  # the line of a `$$` that turned out to open no math

    def scan(self, text: str) -> int:
        """Read `text` (which only grows between calls) on from the last complete line; the last boundary."""
        while not self.ref_defs:
            newline = text.find("\n", self.pos)
            if newline < 0:
                self._last_line(text[self.pos :])
                break
            line_start, self.pos = self.pos, newline + 1
            self._line(text[line_start : self.pos], line_start)
        return self.end

    def _last_line(self, line: str) -> None:
        # The last line is still being written: its first character is enough to end the previous
        # block, unless it may still turn into a list item or a reference definition.
        if not line:
            return
        may_continue_list = self.in_list and line[0] in "-*+0123456789"
        open_block = self.fence is not None or self.math_from is not None
        if not open_block and self.blank_run and not line[0].isspace() and line[0] != "[" and not may_continue_list:
            self.end = self.pos

    def _line(self, line: str, line_start: int) -> None:
        if self.fence is not None:
            if self.top_fence is not None and line.rstrip(" \t\n") == self.top_fence:
                self.fence = self.top_fence = None
                self.end = self.pos  # markdown2 ends the block at this line, whatever follows
                return
            if fence_closes(line, self.fence):
                self.fence = self.top_fence = None
            return
        if self.math_from is not None:
            if not line.strip():
                # No math after all: read its lines again as Markdown, from the `$$` line on.
                self.pos = self.not_math = self.math_from
                self.math_from = None
            elif "$$" in line:
                self.math_from = None
            return
        if not line.strip():
            self.blank_run = True
            return
        if self.blank_run and not line[0].isspace():
            is_item = bool(_LIST_ITEM.match(line))
            if not (self.in_list and is_item):
                self.end = line_start
                self.in_list = self.in_quote = False
        self.blank_run = False
        if line_start != self.not_math and display_math_opens(line) >= 0:
            self.math_from = line_start
            return
        opener = _OPENER.match(line)
        if opener and not self.in_list and not self.in_quote:
            self.end = line_start
            self.fence = self.top_fence = opener.group(1)
            return
        if _QUOTE.match(line):
            self.in_quote = True
        if _REF_DEF.match(line):
            self.ref_defs = True  # reference definitions resolve across the whole text: never split
            return
        if _LIST_ITEM.match(line):
            self.in_list = True
        match = _FENCE.match(line)
        if match:
            self.fence = match.group(1)


def split_finished(text: str) -> tuple[int, bool]:
    """Return `(end, any_ref_defs)`: `text[:end]` is made of finished blocks (0 if none).

    A block is finished once a blank line follows it and the next block has started
    (its first character is known) in a way that cannot continue the previous block.
    """
    scan = _Scan()
    end = scan.scan(text)
    return (0, True) if scan.ref_defs else (end, False)


def open_fence(tail: str) -> tuple[str, str] | None:
    """`(opening line, code so far)` when `tail` is one open code fence at column 0, else None."""
    first, newline, code = tail.partition("\n")
    if not newline or not _OPENER.match(first + "\n"):
        return None
    return first + "\n", code


def open_table(tail: str) -> tuple[str, str] | None:
    """`(header and delimiter rows, rows so far)` when `tail` starts as a Markdown table, else None."""
    header, newline, rest = tail.partition("\n")
    delimiter, newline2, rows = rest.partition("\n")
    if not (newline and newline2 and "|" in header and _DELIMITER_ROW.match(delimiter + "\n")):
        return None
    return f"{header}\n{delimiter}\n", rows


class BlockSplitter:
    """Feeds on a growing text; hands out each finished block once (reading each line once)."""

    def __init__(self) -> None:
        self.text = ""
        self.frozen_upto = 0
        self._scan = _Scan()

    def feed(self, chunk: str) -> None:
        self.text += chunk

    def take_finished(self) -> str:
        """Text finished since the last call ('' if none); it is never returned again."""
        end = self._scan.scan(self.text)
        if self._scan.ref_defs or end <= self.frozen_upto:
            return ""
        finished = self.text[self.frozen_upto : end]
        self.frozen_upto = end
        return finished

    @property
    def tail(self) -> str:
        """The open part that may still change."""
        return self.text[self.frozen_upto :]


_TOP_FENCE = re.compile(r"^(`{3,}|~{3,})([^`\n]*)$")


def fenced_segments(text: str) -> list[tuple[str, str, str]]:
    """Split finished Markdown into ("markdown", text, "") and ("code", fenced block, code) parts.

    Only closed fences that start at column 0 become code parts (fences inside list items
    stay Markdown), so each part renders on its own exactly as it did inside the whole.
    """
    segments: list[tuple[str, str, str]] = []
    lines = text.splitlines(keepends=True)
    buffer: list[str] = []
    index = 0
    while index < len(lines):
        match = _TOP_FENCE.match(lines[index].rstrip("\n"))
        if match:
            fence = match.group(1)
            end = next(
                (
                    j
                    for j in range(index + 1, len(lines))
                    if lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip(" \n`~")
                ),
                None,
            )
            if end is not None:
                if buffer:
                    segments.append(("markdown", "".join(buffer), ""))
                    buffer = []
                code = "".join(lines[index + 1 : end]).rstrip("\n")
                segments.append(("code", "".join(lines[index : end + 1]), code))
                index = end + 1
                continue
        buffer.append(lines[index])
        index += 1
    if buffer:
        segments.append(("markdown", "".join(buffer), ""))
    return segments
