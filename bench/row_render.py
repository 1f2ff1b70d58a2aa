"""A long table's rows rendered by markdown2 and by `ui.table_rows`, side by side in one run (issue 13).

    .venv/bin/python -m bench.row_render            # TAB1K's 1,000 rows in groups of 16, 3 rounds

Server CPU of a streamed table was half markdown2's span pass over its cells; `bench.page` TAB500/TAB1K shows
what that is worth through the whole page.
"""

from __future__ import annotations

import argparse
import time

from bench.long_blocks import table_rows
from ui.live_blocks import ROWS_PER_GROUP
from ui.safe_markdown import render_fresh
from ui.table_rows import rows_html, table_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows of the table (bench.long_blocks)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [line + "\n" for line in table_rows(args.rows)]
    head, rows = "".join(lines[:2]), lines[2:]
    groups = [rows[i : i + ROWS_PER_GROUP] for i in range(0, len(rows), ROWS_PER_GROUP)]
    print(f"{len(rows)} rows in {len(groups)} groups of {ROWS_PER_GROUP}: seconds per table")
    print("| round | markdown2 | ui.table_rows | ratio |\n|---|---|---|---|")
    for round_number in range(1, args.rounds + 1):
        start = time.perf_counter()
        for group in groups:
            render_fresh(head + "".join(group))
        markdown2_s = time.perf_counter() - start
        start = time.perf_counter()
        for group in groups:
            table_body(rows_html(head, group) or [])
        ours_s = time.perf_counter() - start
        print(f"| {round_number} | {markdown2_s:.3f} | {ours_s:.4f} | {markdown2_s / ours_s:.0f}x |")


if __name__ == "__main__":
    main()
