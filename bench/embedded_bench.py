#!/usr/bin/env python3
"""Embedded engine: the raw engine vs. Rivulet's `stream_answer` vs. `main.py ask`, then 1/2/4 conversations.

One run, same engine process, same prompt and parameters (temperature 0, fixed seed):
(a) the raw engine: its OpenAI-compatible `/v1/chat/completions` read with plain httpx;
(b) Rivulet's `stream_answer` over `EmbeddedChatModel` (ChatOpenAI against the same engine);
(c) `main.py ask` as a user runs it (its own process and engine: first byte includes start-up).
Then N conversations at once on engines with 1, 2 and 4 slots: aggregate tokens/s and the
worst first-chunk time. Writes bench/results/embedded_bench.json and .md.

    .venv/bin/python -m bench.embedded_bench              # about 2 minutes on 2 cores
    .venv/bin/python -m bench.embedded_bench --reps 5 --max-tokens 256
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from bench import MOBY_PROMPT, RESULTS, ROOT
from bench.processes import install_watchdog
from bench.tables import fmt, machine_info, median, ratio, stamp, table, write_json
from llm.embedded import EmbeddedChatModel
from llm.engine import bundled_model_path
from llm.errors import ProviderError
from llm.settings import DEFAULT_SYSTEM_PROMPT
from llm.streaming import AnswerStats, stream_answer

SEED = 42
SYSTEM = DEFAULT_SYSTEM_PROMPT  # what `main.py ask` sends, so that (a), (b) and (c) answer the same text


def model_for(parallel: int, max_tokens: int) -> EmbeddedChatModel:
    return EmbeddedChatModel(
        model_path=str(bundled_model_path()), parallel=parallel, max_tokens=max_tokens, temperature=0.0, seed=SEED
    )


async def raw_run(model: EmbeddedChatModel, prompt: str, system: str | None = SYSTEM) -> dict[str, Any]:
    """(a) the engine's own streaming endpoint, no LangChain: first content chunk, chunks/s, the text."""
    engine = model.engine
    messages = [{"role": "system", "content": system}] if system else []
    payload = {
        "model": "raw",
        "messages": [*messages, {"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": model.max_tokens,
        "temperature": 0.0,
        "top_p": model.top_p,
        "seed": SEED,
    }
    started = time.monotonic()
    first = last = None
    parts: list[str] = []
    async with (
        httpx.AsyncClient(timeout=120) as client,
        client.stream(
            "POST",
            f"{await engine.ensure_started()}/chat/completions",
            json=payload,
            headers={"Authorization": f"Bearer {engine.api_key}"},
        ) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:]).get("choices") or [{}]
                if content := choices[0].get("delta", {}).get("content"):
                    last = time.monotonic()
                    first = first or last
                    parts.append(content)
    return _figures(started, first, last, len(parts), None, "".join(parts))


async def rivulet_run(model: EmbeddedChatModel, prompt: str) -> dict[str, float | None]:
    """(b) the one streaming loop the page, the CLI and /ask use."""
    stats = AnswerStats()
    text = "".join([chunk async for chunk in stream_answer(model, prompt, system=SYSTEM, stats=stats)])
    return _figures(stats.started, stats.first_chunk_at, stats.ended, stats.chunks, stats.output_tokens, text)


def cli_run(prompt: str, max_tokens: int) -> dict[str, float | None]:
    """(c) `main.py ask` in a fresh process: its first byte includes Python start-up and the engine's load."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "main.py", "ask", prompt, f"--max-tokens={max_tokens}", "--temperature=0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    first = last = None
    out = b""
    assert proc.stdout is not None
    while piece := proc.stdout.read1(65536):  # type: ignore[attr-defined]
        last = time.monotonic()
        first = first or last
        out += piece
    proc.wait()
    return _figures(started, first, last, 0, None, out.decode().rstrip("\n"))


def _figures(
    started: float,
    first: float | None,
    last: float | None,
    chunks: int,
    tokens: int | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    span = (last - first) if first and last and last > first else None
    return {
        "first_chunk_s": None if first is None else first - started,
        "total_s": None if last is None else last - started,
        "span_s": span,
        "chunks": chunks,
        "chunks_per_s": chunks / span if span else None,
        "tokens": tokens,
        "text": text,
    }


async def concurrent(model: EmbeddedChatModel, prompt: str, conversations: int) -> dict[str, float | None]:
    """`conversations` answers at once through `stream_answer`: aggregate tokens/s and the worst first chunk."""
    stats = [AnswerStats() for _ in range(conversations)]
    started = time.monotonic()

    async def one(s: AnswerStats) -> None:
        async for _ in stream_answer(model, prompt, stats=s):
            pass

    await asyncio.gather(*(one(s) for s in stats))
    wall = time.monotonic() - started
    tokens = sum(s.output_tokens or s.chunks for s in stats)
    return {
        "wall_s": wall,
        "tokens": tokens,
        "aggregate_tokens_per_s": tokens / wall,
        "worst_first_chunk_s": max(s.time_to_first_chunk or 0.0 for s in stats),
    }


async def stop_latency(model: EmbeddedChatModel, prompt: str) -> dict[str, float]:
    """Seconds from cancelling an answer after 5 chunks until the engine generates nothing (its own gauge)."""
    engine = model.engine
    before = await engine.metrics()
    stats = AnswerStats()

    async def consume() -> None:
        async for _ in stream_answer(model.model_copy(update={"max_tokens": 400}), prompt, stats=stats):
            pass

    task = asyncio.create_task(consume())
    while stats.chunks < 5:
        await asyncio.sleep(0.001)
    task.cancel()
    stopped = time.monotonic()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    while (await engine.metrics())["requests_processing"] > 0:
        pass
    idle = time.monotonic() - stopped
    predicted = (await engine.metrics())["tokens_predicted_total"] - before["tokens_predicted_total"]
    return {"idle_after_stop_s": idle, "tokens_generated": predicted, "chunks_shown": stats.chunks}


async def restart_time(model: EmbeddedChatModel, prompt: str) -> float:
    """Seconds from a SIGKILL of the engine mid-answer to the first chunk of the next answer."""
    received = 0
    killed = time.monotonic()
    with contextlib.suppress(ProviderError):
        async for _ in stream_answer(model, prompt):
            received += 1
            if received == 5:
                os.kill(model.engine.pid or 0, signal.SIGKILL)
                killed = time.monotonic()
    stats = AnswerStats()
    async for _ in stream_answer(model, prompt, stats=stats):
        break
    return (stats.first_chunk_at or time.monotonic()) - killed


async def run(args: argparse.Namespace) -> dict[str, Any]:
    model = model_for(2, args.max_tokens)
    started = time.monotonic()
    model.engine.start()
    load_s = time.monotonic() - started
    print(f"engine loaded in {load_s:.2f} s; {model.engine.system_info}")
    await raw_run(model, args.prompt)  # warm-up (also fills the prompt cache, as in real use)
    await rivulet_run(model, args.prompt)
    runs: dict[str, list[dict[str, float | None]]] = {"raw": [], "rivulet": [], "cli": []}
    for rep in range(args.reps):
        runs["raw"].append(await raw_run(model, args.prompt))
        runs["rivulet"].append(await rivulet_run(model, args.prompt))
        runs["cli"].append(await asyncio.to_thread(cli_run, args.prompt, args.max_tokens))
        print(
            f"rep {rep + 1}/{args.reps}: "
            + ", ".join(f"{k} {fmt(v[-1]['chunks_per_s'], '{:.1f}')}/s" for k, v in runs.items())
        )
    stops = [await stop_latency(model, args.prompt) for _ in range(3)]
    restarts = [await restart_time(model, args.prompt) for _ in range(3)]
    print(f"stops: {stops}; restarts: {restarts}")
    model.engine.stop()
    single = {name: {key: median(r[key] for r in rs) for key in rs[0] if key != "text"} for name, rs in runs.items()}
    single["cli"]["same_text_as_rivulet"] = all(
        c["text"] == b["text"] for b, c in zip(runs["rivulet"], runs["cli"], strict=True)
    )

    grid: dict[str, dict[str, dict[str, float | None]]] = {}
    for parallel in (1, 2, 4):
        slots = model_for(parallel, args.concurrent_tokens)
        slots.engine.start()
        await concurrent(slots, args.prompt, 1)  # warm-up
        grid[str(parallel)] = {}
        for conversations in (1, 2, 4):
            grid[str(parallel)][str(conversations)] = await concurrent(slots, args.prompt, conversations)
            print(f"slots {parallel}, {conversations} at once: {grid[str(parallel)][str(conversations)]}")
        slots.engine.stop()
    return {
        "load_s": load_s,
        "system_info": model.engine.system_info,
        "single": single,
        "grid": grid,
        "stops": stops,
        "restarts_s": restarts,
    }


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    single = result["single"]
    raw = single["raw"]
    head = ["median of reps", "(a) raw engine", "(b) Rivulet stream_answer", "b vs a", "(c) main.py ask", "c vs a"]
    rows = []
    for key, label in [("first_chunk_s", "first chunk (s)"), ("span_s", "first to last chunk (s)")]:
        a, b, c = raw[key], single["rivulet"][key], single["cli"][key]
        rows.append([label, fmt(a), fmt(b), fmt(ratio(b, a), "{:.2f}×"), fmt(c), fmt(ratio(c, a), "{:.2f}×")])
    a, b = raw["chunks_per_s"], single["rivulet"]["chunks_per_s"]
    same = single["cli"]["same_text_as_rivulet"]
    c = single["rivulet"]["chunks"] / single["cli"]["span_s"] if same and single["cli"]["span_s"] else None
    rows.append(
        [
            "speed (chunks/s)",
            fmt(a, "{:.1f}"),
            fmt(b, "{:.1f}"),
            fmt(ratio(b, a), "{:.2f}×"),
            fmt(c, "{:.1f}"),
            fmt(ratio(c, a), "{:.2f}×"),
        ]
    )
    rows.append(["chunks", fmt(raw["chunks"], "{:.0f}"), fmt(single["rivulet"]["chunks"], "{:.0f}"), "", "", ""])
    lines = [
        "# Embedded engine: raw engine vs. Rivulet",
        "",
        f"{stamp()} · SmolLM2-135M-Instruct Q4_1 · prompt {args.prompt!r} · max_tokens {args.max_tokens} · "
        f"temperature 0, seed {SEED} · {args.reps} alternated reps after a warm-up · "
        f"engine load {result['load_s']:.2f} s",
        "",
        f"Engine CPU features (llama.cpp's system info): `{result['system_info']}`",
        "",
        table(head, rows),
        "",
        "(c)'s first chunk includes Python start-up and the engine's load; its speed is (b)'s chunk count over "
        f"(c)'s first-to-last span (same text as (b) in every rep, temperature 0: {same}).",
        "",
        f"## Conversations at once (max_tokens {args.concurrent_tokens}): aggregate tokens/s · worst first chunk",
        "",
    ]
    grid_rows = []
    for parallel, by_count in result["grid"].items():
        grid_rows.append(
            [f"--parallel {parallel}"]
            + [
                f"{by_count[n]['aggregate_tokens_per_s']:.1f} tok/s · {by_count[n]['worst_first_chunk_s']:.2f} s"
                for n in ("1", "2", "4")
            ]
        )
    lines += [table(["engine slots", "1 conversation", "2 at once", "4 at once"], grid_rows), ""]
    stops = result["stops"]
    lines += [
        "## Stop and crash",
        "",
        table(
            ["figure", "runs", "median"],
            [
                [
                    "engine idle after a stop (s)",
                    ", ".join(f"{s['idle_after_stop_s']:.3f}" for s in stops),
                    fmt(median(s["idle_after_stop_s"] for s in stops)),
                ],
                [
                    "tokens generated / chunks shown before the stop",
                    ", ".join(f"{s['tokens_generated']:.0f}/{s['chunks_shown']}" for s in stops),
                    "",
                ],
                [
                    "SIGKILL mid-answer to the next answer's first chunk (s)",
                    ", ".join(f"{r:.2f}" for r in result["restarts_s"]),
                    fmt(median(result["restarts_s"]), "{:.2f}"),
                ],
            ],
        ),
        "",
    ]
    lines.append("Command: `.venv/bin/python -m bench.embedded_bench`")
    return "\n".join(lines) + "\n"


# -- for the page benchmark's EMB workload (bench/page/embedded.py) ------------------------------------------------
def load_raw_llama() -> EmbeddedChatModel:
    """The engine the page benchmark's "raw" rows use (no system prompt, as the pages there are run)."""
    model = model_for(2, 256)
    model.engine.start()
    return model


async def raw_answer(
    model: EmbeddedChatModel,
    prompt: str,
    *,
    max_tokens: int,
    timeout: float,  # noqa: ASYNC109 - a timed-out answer is a record (timed_out), not an exception
) -> dict[str, Any]:
    """One raw-engine answer: ttfc_s, chunks, chars, chunks_per_s, total_s, timed_out, text."""
    sized = model.model_copy(update={"max_tokens": max_tokens})
    timed_out = False
    try:
        figures = await asyncio.wait_for(raw_run(sized, prompt, system=None), timeout)
    except TimeoutError:
        timed_out, figures = True, {"first_chunk_s": None, "total_s": timeout, "chunks": 0, "text": ""}
    return {
        "kind": "raw",
        "ttfc_s": figures["first_chunk_s"],
        "chunks": figures["chunks"],
        "chars": len(figures["text"] or ""),
        "chunks_per_s": figures.get("chunks_per_s"),
        "total_s": figures["total_s"],
        "timed_out": timed_out,
        "text": figures["text"] or "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--concurrent-tokens", type=int, default=128)
    parser.add_argument("--prompt", default=MOBY_PROMPT)
    args = parser.parse_args()
    install_watchdog(900, "embedded_bench")
    result = asyncio.run(run(args))
    record = {"machine": machine_info(), "args": vars(args), **result}
    write_json(RESULTS / "embedded_bench.json", record)
    text = report(args, result)
    (RESULTS / "embedded_bench.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
