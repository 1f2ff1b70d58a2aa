"""Issue 13's long single-block answers as word chunks: one fenced Python block of N lines, or one Markdown table
of N rows, each followed by the sentinel ENDMARK in a paragraph of its own.

Standard library only and importable on its own: `bench/bench_model.py` uses it, and `bench.peers_long` copies it
beside the shared peer harness's `fakemodel.py` so the peers stream exactly the same text.

    python bench/long_blocks.py code 4000 | wc -c     # 88 KB
    python bench/long_blocks.py table 1000 | wc -c    # 43 KB

Chunking: "one word or line fragment per chunk". A code line is split at its spaces, each chunk keeping its
trailing space (the first keeps the indentation, the last the newline; a blank line is one "\\n" chunk); a table
row is one chunk per cell ("| cell "), multi-word cells one chunk per word, the row's last chunk ends with "|\\n".
Everything is deterministic: the same (shape, size) gives the same chunks on every machine.
"""

from __future__ import annotations

import functools

SENTINEL = "ENDMARK"
SHAPES = ("code", "table")

_WORDS = [
    "river",
    "stream",
    "delta",
    "current",
    "channel",
    "bank",
    "water",
    "flow",
    "source",
    "mouth",
    "estuary",
    "rapids",
    "meander",
    "basin",
    "valley",
]
_WORDS += [
    "tributary",
    "spring",
    "brook",
    "creek",
    "lake",
    "ocean",
    "tide",
    "harbor",
    "bridge",
    "ferry",
    "boat",
    "paddle",
    "sail",
    "wind",
    "rain",
    "cloud",
    "storm",
]


def _w(i: int) -> str:
    return _WORDS[(i * 7 + i // 5) % len(_WORDS)]


def _unit(k: int) -> list[str]:
    """One top-level definition of a plausible module (a function, a class or constants), then a blank line."""
    a, b, c = _w(k), _w(k + 3), _w(k + 11)
    kind = k % 4
    if kind == 0:
        return [
            f"def {a}_{k}(depth, rate=0.{k % 10}):",
            f'    """Mean depth of the {a} gauge {k}, in metres."""',
            "    # skip the dry days",
            "    total = 0",
            "    for i, v in enumerate(depth):",
            f"        if v < {k % 7}:",
            "            continue  # below the sill",
            "        total += v * rate",
            f'    return total, f"{b}-{{i}}"',
            "",
        ]
    if kind == 1:
        return [
            f"class {a.capitalize()}{k}:",
            f'    """A {b} on the {c}, with its readings."""',
            "",
            f"    limit = {k * 3 % 97}",
            "",
            "    def __init__(self, name):",
            "        self.name = name",
            "        self.seen = []",
            "",
            "    def add(self, x):",
            "        if x > self.limit:",
            f'            raise ValueError("{b}")',
            "        self.seen.append(x)",
            "",
        ]
    if kind == 2:
        return [
            f"{a.upper()}_{k} = {{",
            f'    "{b}": {k % 13},',
            f'    "{c}": [{k % 5}, {k % 9}],',
            "}",
            "",
        ]
    return [
        f"async def fetch_{b}(client, n={k % 8}):",
        "    out = []",
        "    async for row in client.rows(n):",
        "        out.append(row.strip())",
        f"    return out  # {c}",
        "",
    ]


def code_lines(lines: int) -> list[str]:
    """`lines` lines of Python source (the block's content, without the fences)."""
    out: list[str] = ['"""Gauges, reaches and their readings (generated)."""', "import asyncio", ""]
    k = 0
    while len(out) < lines:
        out += _unit(k)
        k += 1
    return out[:lines]


def _line_chunks(line: str) -> list[str]:
    if not line.strip():
        return ["\n"]
    indent = line[: len(line) - len(line.lstrip(" "))]
    words = line.strip().split(" ")
    pieces = [w + " " for w in words[:-1]] + [words[-1] + "\n"]
    pieces[0] = indent + pieces[0]
    return pieces


def table_rows(rows: int) -> list[str]:
    """A Markdown table: a header, the delimiter row and `rows` rows of 5 columns (some **bold**, some `code`)."""
    out = ["| # | reach | gauge | depth m | note |", "|---:|---|---|---:|---|"]
    for i in range(1, rows + 1):
        reach = f"**{_w(i)}**" if i % 3 == 0 else _w(i)
        gauge = f"`g_{i}()`" if i % 4 == 0 else f"g{i}"
        out.append(f"| {i} | {reach} | {gauge} | {(i * 37 % 1000) / 100:.2f} | {_w(i + 5)} |")
    return out


def _row_chunks(row: str) -> list[str]:
    if set(row) <= set("|-: "):
        return [row + "\n"]
    cells = row.strip("|").split("|")
    pieces: list[str] = []
    for cell in cells:
        words = cell.strip().split(" ")
        pieces.append("| " + words[0] + " ")
        pieces += [w + " " for w in words[1:]]
    pieces[-1] += "|\n"
    return pieces


@functools.lru_cache(maxsize=8)
def _chunks(shape: str, size: int) -> tuple[str, ...]:
    if shape == "code":
        body = ["```python\n"] + [p for line in code_lines(size) for p in _line_chunks(line)] + ["```\n", "\n"]
    elif shape == "table":
        body = [p for row in table_rows(size) for p in _row_chunks(row)] + ["\n"]
    else:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    return (*body, SENTINEL)


def shape_chunks(shape: str, size: int) -> list[str]:
    """The chunks of a `shape` answer ("code": `size` lines, "table": `size` rows), the sentinel last."""
    return list(_chunks(shape, size))


def shape_text(shape: str, size: int) -> str:
    return "".join(_chunks(shape, size))


if __name__ == "__main__":
    import sys

    print(shape_text(sys.argv[1] if len(sys.argv) > 1 else "code", int(sys.argv[2]) if len(sys.argv) > 2 else 40))
