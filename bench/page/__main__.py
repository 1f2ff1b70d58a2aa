"""The page benchmark's command line: `.venv/bin/python -m bench.page --help` (from the repository root)."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import bench.page
from bench import RESULTS
from bench.page import RAW
from bench.page.apps import APPS
from bench.page.measure import PROMPT_SELECTOR
from bench.page.report import summary_path, write_summary
from bench.page.run import Results, run_all
from bench.page.workloads import workloads as all_workloads
from bench.processes import install_watchdog, wait_quiet
from bench.tables import machine_info, stamp


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page",
        description=bench.page.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 rep, shorter timeouts, 10 answers + 10 tabs (and 6 long answers) memory checks (about 5-7 minutes)",
    )
    parser.add_argument(
        "--only",
        default="W1,W2,W3,CODE2K,CODE4K,TAB500,TAB1K,EMB,MEM",
        help="comma list of W1,W2,W3,CODE2K,CODE4K,TAB500,TAB1K,EMB,MEM",
    )
    parser.add_argument("--apps", default="rivulet,naive", help="comma list of rivulet,naive")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each Rivulet workload")
    parser.add_argument("--naive-reps", type=int, default=1, help="repetitions of each naive-page workload")
    parser.add_argument(
        "--no-dnf-skip",
        action="store_true",
        help="keep repeating a workload on an app after it did not finish (default: skip)",
    )
    parser.add_argument("--w1-timeout", type=float, default=30.0, help="seconds from submit, W1")
    parser.add_argument("--w2-timeout", type=float, default=40.0, help="seconds from submit, W2")
    parser.add_argument("--w3-timeout", type=float, default=30.0, help="seconds from submit, W3 (all tabs)")
    parser.add_argument(
        "--long-timeout", type=float, default=30.0, help="seconds from submit, CODE2K/CODE4K/TAB500/TAB1K (issue 13)"
    )
    parser.add_argument("--emb-timeout", type=float, default=90.0, help="seconds per embedded answer")
    parser.add_argument(
        "--stable-s",
        type=float,
        default=2.0,
        help="embedded model: the answer is done when its text has not changed for this long",
    )
    parser.add_argument("--emb-budget", type=float, default=150.0, help="no new embedded rep after this many s")
    parser.add_argument("--mem-answers", type=int, default=50)
    parser.add_argument(
        "--mem-budget", type=float, default=200.0, help="no new memory-check answer after this many s (min 6 answers)"
    )
    parser.add_argument("--mem-tabs", type=int, default=50)
    parser.add_argument(
        "--mem-shape",
        default="markdown,code",
        help="comma list: which memory checks MEM runs. markdown = issue 5's (--mem-answers W1 answers in one tab, "
        "then --mem-tabs tabs); code / table = issue 13's (--mem-long-answers CODE4K / TAB1K answers, each in "
        "its own tab, closed after it)",
    )
    parser.add_argument("--mem-long-answers", type=int, default=20, help="answers of a code/table memory check")
    parser.add_argument(
        "--mem-tab-chunks",
        type=int,
        default=0,
        help="each of the memory check's tabs also streams an answer of this many chunks (0: none)",
    )
    parser.add_argument("--mem-settle", type=float, default=8.0, help="seconds to wait before the final RSS")
    parser.add_argument(
        "--mem-probe",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run Rivulet through bench/probe_server.py in the memory check: clients/elements/tasks after gc",
    )
    parser.add_argument("--settle", type=float, default=0.5, help="seconds after the page is ready")
    parser.add_argument("--run-timeout", type=float, default=150.0, help="hard limit per run (start to stop), s")
    parser.add_argument("--hard-timeout", type=float, default=2100.0, help="hard limit for the whole script, s")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="first wait up to this long for other processes' CPU load to go away",
    )
    parser.add_argument(
        "--capture-frames",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep a sample of WebSocket frames per single-tab run in raw/ (for diagnosis)",
    )
    parser.add_argument(
        "--prompt-selector", default=PROMPT_SELECTOR, help="CSS selector of the prompt box (last match)"
    )
    parser.add_argument("--out", default=str(RESULTS / "page_bench.jsonl"))
    parser.add_argument(
        "--summary",
        default=None,
        help="the summary's path (default: summary.md, or <out stem>_summary.md beside --out)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.reps, args.naive_reps = 1, 1
        args.w1_timeout, args.w2_timeout, args.w3_timeout = 15.0, 30.0, 30.0
        args.long_timeout = min(args.long_timeout, 20.0)
        args.mem_answers, args.mem_tabs, args.mem_long_answers = 10, 10, 6
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    install_watchdog(args.hard_timeout, "page benchmark")
    only = {x.strip().upper() for x in args.only.split(",") if x.strip()}
    apps = [a for a in args.apps.split(",") if a in APPS]
    workloads = [w for w in all_workloads(args) if w.name in only]
    out = Path(args.out)
    RAW.mkdir(parents=True, exist_ok=True)
    results = Results(out)
    t0 = time.time()
    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    results.emit({"kind": "meta", "when": stamp(), "machine": machine_info(), "args": vars(args), "quiet_check": quiet})
    if quiet:
        print(
            f"[{stamp()}] other processes use {quiet['foreign_cores']:.2f} cores (waited {quiet['waited_s']} s)",
            flush=True,
        )
    asyncio.run(run_all(args, workloads, apps, only, results, t0))
    summary = write_summary(results.records, workloads, apps, args, time.time() - t0)
    print("\n" + summary)
    print(f"\ntotal {time.time() - t0:.0f} s; results: {out}, {summary_path(out, args.summary)}")


if __name__ == "__main__":
    main()
