"""`make cluster`: Redis, N Rivulet instances and nginx (deploy/nginx.conf) in front, all on 127.0.0.1.

    .venv/bin/python -m deploy.cluster                    # 2 instances sharing one embedded engine, on :8080
    .venv/bin/python -m deploy.cluster --instances 3 --port 9000 --model fake:chunks=2000,rate=200
    .venv/bin/python -m deploy.cluster --model openai:qwen2.5 --base-url http://127.0.0.1:8000/v1

Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started, by PID. State (Redis data, the
shared storage secret, logs, nginx's files) lives in a temporary directory that goes with it. `Cluster` is also
what tests/test_cluster.py starts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from deploy.nginx import render

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "main.py"
HOST = "127.0.0.1"
ENGINE_CONTEXT = 4096  # tokens per slot of the shared engine (the local engine's default)
INSTALL_HINT = "install it with: sudo apt-get install nginx-light redis-server (or `make system-deps` as root)"


class ClusterError(RuntimeError):
    """A part of the cluster is missing or did not start; the message says which and how to fix it."""


def find_program(name: str) -> str | None:
    """`name` on PATH, or in /usr/sbin and /usr/bin, which a normal user's PATH may lack (Debian's nginx)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/bin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_programs() -> list[str]:
    """Which of nginx and redis-server are not installed."""
    return [name for name in ("nginx", "redis-server") if find_program(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def accepts(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=timeout):
        return True
    return False


@dataclass
class Part:
    """One process of the cluster: what it is, where it listens, its log."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 600) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:].strip()
        return ""

    def wait_ready(self, timeout: float) -> None:
        """Wait until the port accepts connections; a process that exits first is an error naming its log."""
        deadline = time.monotonic() + timeout
        while not accepts(self.port):
            if not self.alive():
                raise ClusterError(f"{self.name} exited with {self.proc.returncode}; its log ends: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; by PID, only this process (it ends its own children)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(grace)


@dataclass
class Cluster:
    """Redis, `instances` Rivulet processes sharing it (and one storage secret), and nginx in front.

    With neither `model` nor `base_url`, one embedded engine (the bundled model, `parallel` slots) serves every
    instance through its OpenAI-compatible API: the shared model tier, as one would run vLLM or Ollama.
    """

    instances: int = 2
    port: int = 0  # nginx's port; 0: a free one
    model: str | None = None
    base_url: str | None = None
    parallel: int = 4
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] | None = None  # the instances' base environment (None: this process's)
    workdir: Path | None = None
    redis: Part | None = None
    engine: Part | None = None
    nodes: list[Part] = field(default_factory=list)
    nginx: Part | None = None
    _own_workdir: bool = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def parts(self) -> list[Part]:
        return [part for part in (self.nginx, *self.nodes, self.engine, self.redis) if part is not None]

    def _spawn(self, name: str, argv: Sequence[str], port: int, env: Mapping[str, str] | None = None) -> Part:
        assert self.workdir is not None
        log = self.workdir / "logs" / f"{name}.log"
        with open(log, "wb") as out:
            # A session of its own: Ctrl-C reaches only this script, which then stops the parts in order.
            proc = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )
        return Part(name, port, proc, log)

    def start(self, timeout: float = 60.0) -> Cluster:
        if missing := missing_programs():
            raise ClusterError(f"{' and '.join(missing)} not found: {INSTALL_HINT}.")
        if self.instances < 1:
            raise ClusterError("--instances must be 1 or more.")
        if self.base_url and not self.model:
            raise ClusterError("--base-url needs the model it serves: add --model openai:NAME (or ollama:NAME).")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="rivulet-cluster-"))
            self._own_workdir = True
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_all(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self, timeout: float) -> None:
        assert self.workdir is not None
        redis_port = free_port()
        (self.workdir / "redis").mkdir()
        redis_argv = [find_program("redis-server") or "redis-server", "--bind", HOST, "--port", str(redis_port)]
        redis_argv += ["--dir", str(self.workdir / "redis"), "--save", "", "--appendonly", "no"]
        self.redis = self._spawn("redis", redis_argv, redis_port)
        model, base_url, tier_args = self.model, self.base_url, []
        if model is None:
            self.engine = self._start_engine()
            model, base_url = "openai:smollm2", f"{self.engine.url}/v1"
            tier_args = [
                "--context-tokens",
                str(ENGINE_CONTEXT),
            ]  # trim histories to the engine's window, as `local` does
        self.redis.wait_ready(timeout)

        env = dict(os.environ if self.env is None else self.env)
        env.update(
            NICEGUI_REDIS_URL=f"redis://{HOST}:{redis_port}/0",
            RIVULET_DATA_DIR=str(self.workdir / "data"),  # one storage secret for all: the session cookie fits each
        )
        env.setdefault("RIVULET_FORWARDED_ALLOW_IPS", HOST)  # nginx, on this machine, names the client
        for number in range(1, self.instances + 1):
            port = free_port()
            argv = [sys.executable, str(MAIN), "serve", "--port", str(port), "--model", model]
            argv += ["--base-url", base_url] if base_url else []
            name = f"rivulet-{number}"
            argv += [*tier_args, *self.extra_args]
            self.nodes.append(self._spawn(name, argv, port, {**env, "RIVULET_INSTANCE_ID": name}))
        for node in self.nodes:
            node.wait_ready(timeout)

        self.port = self.port or free_port()
        prefix = self.workdir / "nginx"
        for folder in ("logs", "tmp"):  # nginx creates its temporary directories, but not their parent
            (prefix / folder).mkdir(parents=True)
        as_root = os.geteuid() == 0
        if as_root:  # nginx's workers drop to www-data; they must reach their temporary files under the prefix
            for folder in (self.workdir, prefix):
                folder.chmod(0o755)
        conf = prefix / "nginx.conf"
        conf.write_text(render(self.port, [node.port for node in self.nodes], user="www-data" if as_root else None))
        nginx_argv = [find_program("nginx") or "nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"]
        self.nginx = self._spawn("nginx", nginx_argv, self.port)
        self.nginx.wait_ready(timeout)

    def _start_engine(self) -> Part:
        """The bundled model on llama.cpp's server, standalone, once for all instances; waits until it serves."""
        from llm.engine import bundled_model_path

        port = free_port()
        argv = [sys.executable, str(ROOT / "llm" / "engine_server.py"), "--standalone"]
        argv += [f"--model={bundled_model_path()}", f"--port={port}", f"--parallel={self.parallel}"]
        argv += [f"--context-tokens={ENGINE_CONTEXT}"]
        assert self.workdir is not None
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=open(self.workdir / "logs" / "engine.log", "wb"),  # noqa: SIM115 - the child holds it
            cwd=ROOT,
            start_new_session=True,
        )
        engine = Part("engine", port, proc, self.workdir / "logs" / "engine.log")
        ready = json.loads(proc.stdout.readline() or b"{}")  # type: ignore[union-attr]  # one line once it serves
        if ready.get("address") != engine.url:
            engine.stop()
            raise ClusterError(f"the shared engine did not start; its log ends: {engine.log_tail()}")
        return engine

    def stop(self) -> None:
        """Stop nginx, the instances, the engine and Redis (each by its PID), and remove a temporary workdir."""
        for part in self.parts:
            part.stop()
        if self.engine is not None and self.engine.proc.stdout is not None:
            self.engine.proc.stdout.close()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.cluster",
        description="Start Redis, N Rivulet instances and nginx (deploy/nginx.conf) in front, all on 127.0.0.1, "
        "in the foreground; Ctrl-C stops them. Other options (e.g. --models ...) go to every instance.",
    )
    parser.add_argument("--instances", type=int, default=2, help="Rivulet instances behind nginx (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port, the one to open (default 8080)")
    parser.add_argument(
        "--model",
        help="model spec for every instance (default: one embedded engine shared by all, through its OpenAI API)",
    )
    parser.add_argument(
        "--base-url", help="one OpenAI-compatible model server shared by all instances (vLLM, Ollama, llama.cpp)"
    )
    parser.add_argument("--parallel", type=int, default=4, help="slots of the shared embedded engine (default 4)")
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    if accepts(args.port):
        print(f"error: port {args.port} is in use: pick another with --port.", file=sys.stderr)
        return 2

    def stop_on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    cluster = Cluster(args.instances, args.port, args.model, args.base_url, args.parallel, extra)
    try:
        try:
            cluster.start()
        except ClusterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        model = args.model or f"one shared embedded engine ({args.parallel} slots) at {cluster.engine.url}/v1"  # type: ignore[union-attr]
        print(f"Redis: {HOST}:{cluster.redis.port}; model: {model}")  # type: ignore[union-attr]
        for node in cluster.nodes:
            print(f"{node.name}: {node.url} (pid {node.proc.pid})")
        print(f"logs: {cluster.workdir}/logs (removed on exit)")
        print(f"Rivulet cluster: open {cluster.url}  (Ctrl-C stops it)", flush=True)
        while True:
            for part in cluster.parts:
                if not part.alive():
                    print(f"error: {part.name} exited with {part.proc.returncode}: {part.log_tail()}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr)
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
