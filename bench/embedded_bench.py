#!/usr/bin/env python3
"""Embedded model: raw llama-cpp-python vs. Rivulet's `stream_answer` over `EmbeddedChatModel`.

Same prompt, same parameters (max_tokens, temperature 0 = greedy, fixed seed), same GGUF file,
n_ctx=2048, n_threads=os.cpu_count(). One warm-up each, then a/b alternated `--reps` times.
Prints a side-by-side table of medians with the ratio b/a; writes
bench/results/embedded_bench.json and bench/results/embedded_bench.md.

    .venv/bin/python bench/embedded_bench.py            # 3 reps (about 1 minute on 2 cores)
    .venv/bin/python bench/embedded_bench.py --reps 5 --max-tokens 128
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from _common import (
    MOBY_PROMPT,
    RESULTS,
    ForeignLoad,
    fmt,
    install_watchdog,
    machine_info,
    median,
    ratio,
    stamp,
    table,
    wait_quiet,
    write_json,
)

SEED = 42
N_CTX = 2048
TOP_P = 0.95  # EmbeddedChatModel's default; irrelevant at temperature 0 but kept identical


def messages_for(prompt: str, system: str | None = None) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def load_raw_llama(model_path: str | None = None) -> Any:
    """A plain `llama_cpp.Llama` on the bundled GGUF (or `model_path`), as the brief specifies."""
    from llama_cpp import Llama

    from llm.embedded import bundled_model_path

    return Llama(
        model_path=str(model_path or bundled_model_path()), n_ctx=N_CTX, n_threads=os.cpu_count(), verbose=False
    )


def raw_run(
    llama: Any,
    prompt: str = MOBY_PROMPT,
    *,
    system: str | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """(a) raw llama-cpp-python streaming chat completion: time to first content chunk and chunks/s."""
    start = time.perf_counter()
    stream = llama.create_chat_completion(
        messages=messages_for(prompt, system),
        stream=True,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=TOP_P,
        seed=SEED,
        stop=[],
    )
    first = last = None
    chunks = 0
    text = []
    timed_out = False
    try:
        for part in stream:
            piece = part["choices"][0]["delta"].get("content")
            if piece:
                now = time.perf_counter()
                first = first if first is not None else now
                last = now
                chunks += 1
                text.append(piece)
            if time.perf_counter() - start > timeout:
                timed_out = True
                break
    finally:
        stream.close()
    end = time.perf_counter()
    return _figures("raw", start, first, last, end, chunks, "".join(text), timed_out)


async def _rivulet_consume(model: Any, prompt: str, system: str | None, limit: float) -> dict[str, Any]:
    from llm.streaming import AnswerStats, stream_answer

    stats = AnswerStats()
    start = time.perf_counter()
    first = last = None
    chunks = 0
    text: list[str] = []
    timed_out = False

    async def consume() -> None:
        nonlocal first, last, chunks
        async for piece in stream_answer(model, prompt, system=system, stats=stats):
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
            chunks += 1
            text.append(piece)

    try:
        await asyncio.wait_for(consume(), limit)
    except TimeoutError:
        timed_out = True
    end = time.perf_counter()
    result = _figures("rivulet", start, first, last, end, chunks, "".join(text), timed_out)
    result["answer_stats"] = stats.to_dict()
    return result


def rivulet_model(max_tokens: int = 256, temperature: float = 0.0, model_path: str | None = None) -> Any:
    """(b) Rivulet's EmbeddedChatModel with the same parameters as `raw_run`."""
    from llm.embedded import EmbeddedChatModel, bundled_model_path

    return EmbeddedChatModel(
        model_path=str(model_path or bundled_model_path()),
        n_ctx=N_CTX,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=TOP_P,
        seed=SEED,
    )


def rivulet_run(
    model: Any, prompt: str = MOBY_PROMPT, *, system: str | None = None, timeout: float = 120.0
) -> dict[str, Any]:
    return asyncio.run(_rivulet_consume(model, prompt, system, timeout))


def _figures(
    kind: str,
    start: float,
    first: float | None,
    last: float | None,
    end: float,
    chunks: int,
    text: str,
    timed_out: bool,
) -> dict[str, Any]:
    span = (last - first) if first is not None and last is not None else None
    return {
        "kind": kind,
        "ttfc_s": None if first is None else round(first - start, 4),
        "chunks": chunks,
        "chars": len(text),
        # rate between the first and the last chunk (excludes the prompt evaluation)
        "chunks_per_s": round((chunks - 1) / span, 2) if span and chunks > 1 else None,
        "total_s": round(end - start, 4),
        "timed_out": timed_out,
        "text": text,
    }


def summarize(raw: list[dict[str, Any]], riv: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    rows = []
    medians: dict[str, Any] = {}
    for key, label, spec in [
        ("chunks_per_s", "chunks/s", "{:.1f}"),
        ("ttfc_s", "time to first chunk s", "{:.3f}"),
        ("total_s", "total s", "{:.2f}"),
        ("chunks", "chunks", "{:.0f}"),
    ]:
        a = median(r[key] for r in raw)
        b = median(r[key] for r in riv)
        medians[key] = {"raw": a, "rivulet": b, "ratio_b_over_a": ratio(b, a)}
        rows.append([label, fmt(a, spec), fmt(b, spec), fmt(ratio(b, a), "{:.3f}")])
    a = median(r["load"]["foreign_cores"] for r in raw)
    b = median(r["load"]["foreign_cores"] for r in riv)
    rows.append(["CPU of other processes (cores)", fmt(a, "{:.2f}"), fmt(b, "{:.2f}"), ""])
    head = ["median over reps", "(a) raw llama-cpp-python", "(b) Rivulet stream_answer", "ratio b/a"]
    return table(head, rows), medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--prompt", default=MOBY_PROMPT)
    parser.add_argument("--run-timeout", type=float, default=120.0, help="hard limit per generation, seconds")
    parser.add_argument("--hard-timeout", type=float, default=900.0, help="whole script, seconds")
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="wait up to this long for other load to end")
    args = parser.parse_args()
    install_watchdog(args.hard_timeout, "embedded_bench")
    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    if quiet:
        print(f"other processes use {quiet['foreign_cores']:.2f} cores (waited {quiet['waited_s']} s)", flush=True)

    from llm.embedded import bundled_model_path

    path = bundled_model_path()
    print(
        f"[{stamp()}] model {path.name}; prompt {args.prompt!r}; max_tokens={args.max_tokens}, temperature 0, "
        f"seed {SEED}, n_ctx {N_CTX}, n_threads {os.cpu_count()}",
        flush=True,
    )
    t0 = time.perf_counter()
    llama = load_raw_llama(str(path))
    load_raw = time.perf_counter() - t0
    model = rivulet_model(args.max_tokens)
    t0 = time.perf_counter()
    model.shared.llama()  # load Rivulet's shared instance outside the timed runs too
    load_riv = time.perf_counter() - t0
    print(f"loaded: raw {load_raw:.2f} s, Rivulet {load_riv:.2f} s", flush=True)

    def run_a() -> dict[str, Any]:
        return raw_run(llama, args.prompt, max_tokens=args.max_tokens, timeout=args.run_timeout)

    def run_b() -> dict[str, Any]:
        return rivulet_run(model, args.prompt, timeout=args.run_timeout)

    warm = {"raw": run_a(), "rivulet": run_b()}
    print(f"warm-up: raw {warm['raw']['chunks']} chunks, Rivulet {warm['rivulet']['chunks']} chunks", flush=True)
    raw: list[dict[str, Any]] = []
    riv: list[dict[str, Any]] = []
    for rep in range(1, args.reps + 1):
        for label, fn, bucket in (("a raw", run_a, raw), ("b rivulet", run_b, riv)):
            load = ForeignLoad()
            result = fn()
            result["rep"] = rep
            result["load"] = load.stop()
            bucket.append(result)
            print(
                f"  rep {rep} {label:10s} ttfc {fmt(result['ttfc_s'])} s  {fmt(result['chunks_per_s'], '{:.1f}')} "
                f"chunks/s  {result['chunks']} chunks  total {result['total_s']:.2f} s  "
                f"(other processes: {result['load']['foreign_cores']:.2f} cores)"
                + ("  TIMED OUT" if result["timed_out"] else ""),
                flush=True,
            )
    same_text = len({r["text"] for r in raw + riv}) == 1
    text_table, medians = summarize(raw, riv)
    print()
    print(text_table)
    print(f"\nsame answer text in every run: {same_text}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "when": stamp(),
        "machine": machine_info(),
        "params": {
            "prompt": args.prompt,
            "max_tokens": args.max_tokens,
            "temperature": 0.0,
            "seed": SEED,
            "n_ctx": N_CTX,
            "n_threads": os.cpu_count(),
            "model": path.name,
            "reps": args.reps,
        },
        "quiet_check": quiet,
        "load_s": {"raw": round(load_raw, 3), "rivulet": round(load_riv, 3)},
        "medians": medians,
        "same_text": same_text,
        "answer_text": raw[0]["text"] if raw else None,
        "runs": [{k: v for k, v in r.items() if k != "text"} for r in raw + riv],
        "warmup": {k: {kk: vv for kk, vv in v.items() if kk != "text"} for k, v in warm.items()},
    }
    write_json(RESULTS / "embedded_bench.json", record)
    md = [
        "# Embedded model: raw llama-cpp-python vs. Rivulet's stream_answer",
        "",
        f"{stamp()} · {os.cpu_count()} cores · `{path.name}` · prompt “{args.prompt}” · max_tokens {args.max_tokens}, "
        f"temperature 0, seed {SEED}, n_ctx {N_CTX} · medians of {args.reps} alternated reps after one warm-up each",
        "",
        text_table,
        "",
        f"Same answer text in every run: {same_text}. chunks/s is measured from the first to the last chunk; "
        'time to first chunk from the call to the first non-empty chunk. "CPU of other processes" is the '
        "machine's busy CPU minus this benchmark's own, per second of run: above ~0.2 cores the run was "
        "disturbed (llama.cpp with n_threads = cores is very sensitive to it).",
        "",
        "Command: `.venv/bin/python bench/embedded_bench.py`",
    ]
    (RESULTS / "embedded_bench.md").write_text("\n".join(md) + "\n")
    print(f"\nresults: {RESULTS / 'embedded_bench.json'}, {RESULTS / 'embedded_bench.md'}")


if __name__ == "__main__":
    main()
