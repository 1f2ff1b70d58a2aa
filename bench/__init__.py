"""Benchmarks: scripts that print figures (they are not tests). Run each from the repository root as
`.venv/bin/python -m bench.<name>` (`make bench` runs `bench.page`); see bench/README.md."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

#: The prompt of the embedded-model comparisons (embedded_bench, ask_bench and the page benchmark).
MOBY_PROMPT = "Summarize the plot of Moby-Dick in detail."
