#!/usr/bin/env python3
"""`POST /ask` on a real Rivulet server (a subprocess on a free 127.0.0.1 port).

1. Time to first byte: with the embedded model (`--model local`, temperature 0, max_tokens 256),
   plain-text requests (TTFB = request sent -> first body byte) alternated with SSE requests
   (the model's own time to first chunk from `event: done`, plus the client's time to the first
   `data:` event), `--reps` each after one warm-up; medians.
2. Disconnect -> upstream closed: Rivulet in front of tests/support/fake_openai.py's misbehaving server
   (model "slow": one chunk every 0.1 s); an httpx client reads 3 chunks and disconnects; the
   fake server records when Rivulet's upstream connection closes. Delay over `--reps` reps.

    .venv/bin/python -m bench.ask_bench             # about 1.5 minutes
    .venv/bin/python -m bench.ask_bench --reps 3 --skip-ttfb

Writes bench/results/ask_bench.json and bench/results/ask_bench.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

from bench import MOBY_PROMPT, RESULTS
from bench.processes import ForeignLoad, install_watchdog, wait_quiet
from bench.tables import fmt, machine_info, median, stamp, table, write_json
from tests.support.servers import rivulet_server

RAW = RESULTS / "raw"


def plain_request(client: Any, url: str, prompt: str) -> dict[str, Any]:
    start = time.perf_counter()
    headers_at = first_byte = None
    size = 0
    with client.stream("POST", url + "/ask", json={"prompt": prompt}) as response:
        headers_at = time.perf_counter()
        status = response.status_code
        encoding = response.headers.get("content-encoding", "identity")
        for part in response.iter_raw():
            if part and first_byte is None:
                first_byte = time.perf_counter()
            size += len(part)
    end = time.perf_counter()
    return {
        "status": status,
        "ttfb_s": None if first_byte is None else round(first_byte - start, 4),
        "headers_s": round(headers_at - start, 4),
        "total_s": round(end - start, 4),
        "bytes": size,
        "content_encoding": encoding,  # NiceGUI's GZip middleware compresses /ask when the client accepts gzip
    }


def sse_request(client: Any, url: str, prompt: str) -> dict[str, Any]:
    start = time.perf_counter()
    first_data = None
    done: dict[str, Any] | None = None
    event = None
    with client.stream(
        "POST", url + "/ask", json={"prompt": prompt}, headers={"Accept": "text/event-stream"}
    ) as response:
        status = response.status_code
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event is None and first_data is None:
                    first_data = time.perf_counter()
                if event == "done":
                    done = json.loads(line[5:].strip())
            elif not line:
                event = None
    end = time.perf_counter()
    return {
        "status": status,
        "client_first_event_s": None if first_data is None else round(first_data - start, 4),
        "model_ttfc_s": (done or {}).get("time_to_first_chunk_s"),
        "done": done,
        "total_s": round(end - start, 4),
    }


def bench_ttfb(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    RAW.mkdir(parents=True, exist_ok=True)
    argv = ["--model", "local", "--temperature", "0", "--max-tokens", str(args.max_tokens)]
    print(f"[{stamp()}] starting Rivulet: main.py {' '.join(argv)}", flush=True)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="rivulet-bench-ask-", ignore_cleanup_errors=True) as data,
        rivulet_server(*argv, env={"RIVULET_DATA_DIR": data}, log=RAW / "ask_bench_local.log", timeout=90) as server,
    ):
        ready = time.monotonic() - started
        timeout = httpx.Timeout(args.run_timeout, connect=10)
        with httpx.Client(timeout=timeout) as client:
            warm = sse_request(client, server.url, args.prompt)  # loads the model
            print(
                f"  ready after {ready:.1f} s; warm-up: model ttfc {warm['model_ttfc_s']} s, "
                f"{(warm['done'] or {}).get('chunks')} chunks, {warm['total_s']:.1f} s",
                flush=True,
            )
            plain: list[dict[str, Any]] = []
            sse: list[dict[str, Any]] = []
            for rep in range(1, args.reps + 1):
                load = ForeignLoad()
                p = plain_request(client, server.url, args.prompt)
                p["load"] = load.stop([server.pid])
                load = ForeignLoad()
                s = sse_request(client, server.url, args.prompt)
                s["load"] = load.stop([server.pid])
                p["rep"] = s["rep"] = rep
                plain.append(p)
                sse.append(s)
                print(
                    f"  rep {rep}: plain TTFB {fmt(p['ttfb_s'])} s (headers {fmt(p['headers_s'])} s) | SSE: model "
                    f"TTFC {fmt(s['model_ttfc_s'])} s, client first event {fmt(s['client_first_event_s'])} s | "
                    f"other processes {p['load']['foreign_cores']:.2f}/{s['load']['foreign_cores']:.2f} cores",
                    flush=True,
                )
    m_ttfb = median(p["ttfb_s"] for p in plain)
    m_ttfc = median(s["model_ttfc_s"] for s in sse)
    m_first = median(s["client_first_event_s"] for s in sse)
    rows = [
        ["plain text: TTFB (request -> first body byte)", fmt(m_ttfb)],
        ["plain text: response headers", fmt(median(p["headers_s"] for p in plain))],
        ["SSE: model's own time to first chunk (event: done)", fmt(m_ttfc)],
        ["SSE: client's first data event", fmt(m_first)],
        ["TTFB - model TTFC (HTTP + app overhead)", fmt(None if m_ttfb is None or m_ttfc is None else m_ttfb - m_ttfc)],
        [
            "SSE first event - model TTFC (same requests)",
            fmt(
                median(
                    s["client_first_event_s"] - s["model_ttfc_s"]
                    for s in sse
                    if s["client_first_event_s"] is not None and s["model_ttfc_s"] is not None
                )
            ),
        ],
        ["plain text: full answer s", fmt(median(p["total_s"] for p in plain), "{:.2f}")],
        ["CPU of other processes (cores)", fmt(median(p["load"]["foreign_cores"] for p in plain + sse), "{:.2f}")],
        [
            "plain text Content-Encoding (httpx sends Accept-Encoding: gzip)",
            ", ".join(sorted({p["content_encoding"] for p in plain})),
        ],
    ]
    return {
        "table": table([f"/ask with --model local (medians of {args.reps})", "seconds"], rows),
        "plain": plain,
        "sse": sse,
        "warmup": warm,
        "medians": {"ttfb_s": m_ttfb, "model_ttfc_s": m_ttfc, "sse_client_first_event_s": m_first},
    }


def bench_disconnect(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from tests.support.fake_openai import FakeOpenAIServer

    fake = FakeOpenAIServer().start()
    argv = ["--model", "openai:slow", "--base-url", fake.base_url]
    print(f"[{stamp()}] fake OpenAI server at {fake.base_url}; starting Rivulet: main.py {' '.join(argv)}", flush=True)
    runs: list[dict[str, Any]] = []
    RAW.mkdir(parents=True, exist_ok=True)
    log = RAW / "ask_bench_disconnect.log"
    try:
        with (
            tempfile.TemporaryDirectory(prefix="rivulet-bench-ask-", ignore_cleanup_errors=True) as data,
            rivulet_server(*argv, env={"RIVULET_DATA_DIR": data}, log=log) as server,
        ):
            for rep in range(1, args.reps + 1):
                before = len(fake.times("closed", "slow"))
                reads: list[str] = []
                with (
                    httpx.Client(timeout=httpx.Timeout(30, connect=10)) as client,
                    client.stream("POST", server.url + "/ask", json={"prompt": "count slowly"}) as response,
                ):
                    encoding = response.headers.get("content-encoding", "identity")
                    for part in response.iter_bytes():  # decoded: one read per chunk of the slow model
                        if part:
                            reads.append(part.decode(errors="replace"))
                        if len(reads) >= 3:
                            break
                    disconnected = time.monotonic()
                # the response and the client are closed here: the TCP connection is gone
                closed_at = None
                deadline = disconnected + args.disconnect_wait
                while time.monotonic() < deadline:
                    times = fake.times("closed", "slow")
                    if len(times) > before:
                        closed_at = times[before]
                        break
                    time.sleep(0.005)
                delay = None if closed_at is None else round(closed_at - disconnected, 4)
                runs.append(
                    {
                        "rep": rep,
                        "reads": reads,
                        "delay_s": delay,
                        "closed": closed_at is not None,
                        "content_encoding": encoding,
                    }
                )
                print(
                    f"  rep {rep}: read {reads!r}, upstream closed {fmt(delay)} s after the client disconnected",
                    flush=True,
                )
                time.sleep(0.3)
    finally:
        fake.stop()
    delays = [r["delay_s"] for r in runs if r["delay_s"] is not None]
    rows = [
        ["reps where the upstream connection closed", f"{len(delays)}/{len(runs)}"],
        ["median delay s", fmt(median(delays))],
        ["max delay s", fmt(max(delays) if delays else None)],
        ["all delays s", ", ".join(fmt(d) for d in delays) or "n/a"],
    ]
    return {
        "table": table(["client disconnect after 3 chunks -> upstream closed", "value"], rows),
        "runs": runs,
        "median_delay_s": median(delays),
        "max_delay_s": max(delays) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--prompt", default=MOBY_PROMPT)
    parser.add_argument("--run-timeout", type=float, default=120.0, help="read timeout per request, seconds")
    parser.add_argument("--disconnect-wait", type=float, default=10.0, help="seconds to wait for the upstream close")
    parser.add_argument("--skip-ttfb", action="store_true")
    parser.add_argument("--skip-disconnect", action="store_true")
    parser.add_argument("--hard-timeout", type=float, default=900.0, help="whole script, seconds")
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="wait up to this long for other load to end")
    args = parser.parse_args()
    install_watchdog(args.hard_timeout, "ask_bench")
    quiet = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else {}
    if quiet:
        print(f"other processes use {quiet['foreign_cores']:.2f} cores (waited {quiet['waited_s']} s)", flush=True)
    record: dict[str, Any] = {
        "when": stamp(),
        "machine": machine_info(),
        "quiet_check": quiet,
        "params": {k: v for k, v in vars(args).items()},
    }
    md = ["# POST /ask benchmark", "", f"{stamp()} · command: `.venv/bin/python -m bench.ask_bench`", ""]
    if not args.skip_ttfb:
        ttfb = bench_ttfb(args)
        record["ttfb"] = ttfb
        print("\n" + ttfb["table"] + "\n", flush=True)
        md += [
            "## Time to first byte vs. the model's time to first chunk (embedded model)",
            "",
            f"Prompt “{args.prompt}”, temperature 0, max_tokens {args.max_tokens}; plain and SSE requests "
            "alternated after one warm-up.",
            "",
            ttfb["table"],
            "",
        ]
    if not args.skip_disconnect:
        disc = bench_disconnect(args)
        record["disconnect"] = disc
        print("\n" + disc["table"] + "\n", flush=True)
        md += [
            "## Client disconnect -> upstream provider connection closed",
            "",
            "Rivulet `--model openai:slow --base-url <tests/support/fake_openai.py server>`; the client reads 3 "
            "chunks of plain text (one every 0.1 s) and closes the connection; the fake server timestamps its client's "
            "disconnect (same clock: time.monotonic in this process).",
            "",
            disc["table"],
            "",
        ]
    write_json(RESULTS / "ask_bench.json", record)
    (RESULTS / "ask_bench.md").write_text("\n".join(md) + "\n")
    print(f"results: {RESULTS / 'ask_bench.json'}, {RESULTS / 'ask_bench.md'}")


if __name__ == "__main__":
    main()
