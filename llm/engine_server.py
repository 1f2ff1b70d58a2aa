"""The embedded engine's process: llama.cpp's own OpenAI-compatible server on a GGUF file.

Started by `llm.engine.Engine` as `python -m llm.engine_server --model FILE ...`. It runs
xllamacpp's `Server` (llama.cpp's C++ server, continuous batching over `--parallel` slots),
then prints one JSON line on stdout: `{"address": ..., "system_info": ...}` when it listens,
or `{"error": ...}` when the model cannot be loaded (exit code 3).

It ends when its standard input closes: the parent holds the other end of that pipe, so the
engine also ends when the parent is killed with SIGKILL (no orphans). `--standalone` serves
until SIGTERM/Ctrl-C instead, for sharing one engine between several Rivulet instances.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

EXIT_LOAD_FAILED = 3


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m llm.engine_server", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="path of the GGUF file")
    parser.add_argument("--context-tokens", type=int, default=4096, help="context window of each slot, in tokens")
    parser.add_argument("--parallel", type=int, default=4, help="answers generated at the same time (slots)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--api-key-env", default="", help="name of an environment variable holding the API key")
    parser.add_argument("--standalone", action="store_true", help="serve until stopped, not until stdin closes")
    return parser.parse_args(argv)


def build_params(args: argparse.Namespace):  # -> xllamacpp.CommonParams
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    # llama.cpp splits n_ctx between the slots: give each slot the whole configured window.
    params.n_ctx = args.context_tokens * args.parallel
    params.n_parallel = args.parallel
    params.cont_batching = True
    params.hostnames = [args.host]
    params.port = args.port
    params.endpoint_metrics = True  # token counters: tests and benchmarks prove that a stop frees the slot
    params.endpoint_slots = True
    threads = args.threads or os.cpu_count() or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
    if key:
        params.api_keys = [key]
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import xllamacpp

    try:
        server = xllamacpp.Server(build_params(args))
    except RuntimeError:
        print(json.dumps({"error": "load_failed"}), flush=True)
        return EXIT_LOAD_FAILED
    ready = {"address": server.listening_address, "system_info": xllamacpp.get_system_info().strip()}
    print(json.dumps(ready), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not args.standalone:

        def watch_parent() -> None:
            sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
            stop.set()

        threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    stop.wait()
    del server  # stops llama.cpp's loop and closes the port
    return 0


if __name__ == "__main__":
    sys.exit(main())
