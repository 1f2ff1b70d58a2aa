"""Split streaming Markdown into finished blocks and an open tail.

Finished blocks never change again, so the page renders each once and never re-sends it;
only the open tail is updated while the answer streams. A boundary is only taken where
rendering the parts separately gives the same result as rendering the whole text: never
inside a code fence, never between two items of a list, never before an indented line.
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


def split_finished(text: str) -> tuple[int, bool]:
    """Return `(end, any_ref_defs)`: `text[:end]` is made of finished blocks (0 if none).

    A block is finished once a blank line follows it and the next block has started
    (its first character is known) in a way that cannot continue the previous block.
    """
    end = 0
    fence: str | None = None
    top_fence: str | None = None  # the fence of an open markdown2 code block at column 0
    in_list = False
    in_quote = False  # a fence after a quote's line without a blank line belongs to the quote
    blank_run = False
    pos = 0
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            # The last line is still being written: its first character is enough to end the
            # previous block, unless it may still turn into a list item or a reference definition.
            may_continue_list = in_list and line[0] in "-*+0123456789"
            if fence is None and blank_run and not line[0].isspace() and line[0] != "[" and not may_continue_list:
                end = pos
            break
        stripped = line.strip()
        line_start = pos
        pos += len(line)
        if fence is not None:
            if top_fence is not None and line.rstrip(" \t\n") == top_fence:
                fence = top_fence = None
                end = pos  # markdown2 ends the block at this line, whatever follows
                continue
            match = _FENCE.match(line)
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not line.strip(" \n`~")
            ):
                fence = top_fence = None
            continue
        if not stripped:
            blank_run = True
            continue
        if blank_run and not line[0].isspace():
            is_item = bool(_LIST_ITEM.match(line))
            if not (in_list and is_item):
                end = line_start
                in_list = in_quote = False
        blank_run = False
        opener = _OPENER.match(line)
        if opener and not in_list and not in_quote:
            end = line_start
            fence = top_fence = opener.group(1)
            continue
        if _QUOTE.match(line):
            in_quote = True
        if _REF_DEF.match(line):
            return 0, True  # reference definitions resolve across the whole text: never split
        if _LIST_ITEM.match(line):
            in_list = True
        match = _FENCE.match(line)
        if match:
            fence = match.group(1)
    return end, False


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
    """Feeds on a growing text; hands out each finished block once."""

    def __init__(self) -> None:
        self.text = ""
        self.frozen_upto = 0
        self._no_split = False

    def feed(self, chunk: str) -> None:
        self.text += chunk

    def take_finished(self) -> str:
        """Text finished since the last call ('' if none); it is never returned again."""
        if self._no_split:
            return ""
        rest = self.text[self.frozen_upto :]
        end, refs = split_finished(rest)
        if refs:
            self._no_split = True
        if refs or end == 0:
            return ""
        self.frozen_upto += end
        return rest[:end]

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
