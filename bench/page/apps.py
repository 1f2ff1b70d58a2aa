"""The two apps under test, each started fresh on a free 127.0.0.1 port: Rivulet (`main.py`, or
`bench/probe_server.py` for the memory check) and the naive page (`bench/naive_page.py`), with the benchmark's
model (bench/bench_model.py) or the embedded one."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import ROOT
from tests.support.servers import MAIN, ServerProcess, cli_env, free_port

APPS = ("rivulet", "naive")
#: The embedded model's answer length in the EMB workload (both apps, and the raw engine).
EMB_MAX_TOKENS = 256
#: What Rivulet loads as the benchmark's model (from the repository root, on PYTHONPATH).
BENCH_MODEL = "py:bench.bench_model:model_from_env"


def app_argv(app: str, model: str, port: int, *, probe: bool = False) -> list[str]:
    """The command line of `app` ("rivulet" or "naive") with `model` ("bench" or "local")."""
    if app == "rivulet":
        # probe_server = main.py plus a read-only GET /__bench/objects (object counts for the memory check)
        argv = [sys.executable, *(["-m", "bench.probe_server"] if probe else [MAIN]), "--port", str(port)]
        if model == "bench":
            return [*argv, "--model", BENCH_MODEL]
        return [*argv, "--model", "local", "--temperature", "0", "--max-tokens", str(EMB_MAX_TOKENS), "--system", ""]
    return [
        sys.executable,
        "-m",
        "bench.naive_page",
        "--port",
        str(port),
        "--model",
        model,
        "--max-tokens",
        str(EMB_MAX_TOKENS),
        "--temperature",
        "0",
    ]


@contextlib.contextmanager
def app_server(
    app: str, model: str, rundir: Path, *, env: dict[str, str] | None = None, probe: bool = False
) -> Iterator[ServerProcess]:
    """Rivulet or the naive page, serving until the block ends. Its model logs to `rundir`/model.jsonl."""
    rundir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # Rivulet keeps conversations and a storage secret in its data dir: a fresh one per server, removed after
    with tempfile.TemporaryDirectory(prefix=f"rivulet-bench-{app}-", ignore_cleanup_errors=True) as data_dir:
        extra = {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "BENCH_MODEL_LOG": str(rundir / "model.jsonl"),
            "RIVULET_DATA_DIR": data_dir,
        }
        full_env = cli_env(**{**extra, **(env or {})})
        argv = app_argv(app, model, port, probe=probe)
        with ServerProcess(argv, port=port, env=full_env, log=rundir / f"{app}_server.log", cwd=ROOT) as server:
            server.wait_ready(90)
            yield server


def read_model_log(rundir: Path) -> list[dict[str, Any]]:
    """What the benchmark's model logged in `rundir` (one record per answer, and progress lines)."""
    path = rundir / "model.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out
