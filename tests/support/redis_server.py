"""Debian's redis-server for the tests on a free 127.0.0.1 port, killed (as a crash would) and started again."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port

REDIS_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]  # 127.0.0.1 only, nothing on disk


class RedisServer:
    """Debian's redis-server on 127.0.0.1:`port`, without persistence; stop() kills it, start() brings it back."""

    def __init__(self, executable: str, port: int, folder: Path) -> None:
        self.executable = executable
        self.port = port
        self.folder = folder
        self.url = f"redis://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [self.executable, *REDIS_ARGS, "--port", str(self.port), "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        with redis.Redis(port=self.port, socket_connect_timeout=1) as client:
            while True:
                assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
                    time.sleep(0.05)

    def listen(self) -> Publishes:
        return Publishes(self.port)

    def stop(self) -> None:
        """Kill it, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Publishes:
    """What the processes publish to each other about browsers' storage, read by a subscriber of our own."""

    CHANNELS = "rivulet:changes:*"  # the change messages per browser (ui/redis_store.py)
    BARRIER = "rivulet-test-barrier"

    def __init__(self, port: int) -> None:
        import redis

        self.client = redis.Redis(port=port)
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe(self.CHANNELS)
        self.pubsub.subscribe(self.BARRIER)
        self.take()  # also waits until both subscriptions are in place

    def take(self) -> list[dict[str, Any]]:
        """The payloads published since the last call, in order.

        Redis delivers to a subscriber in the order it ran the PUBLISH commands: whatever any process
        published before our barrier arrives before it. No waiting for stragglers by the clock.
        """
        token = secrets.token_hex(8)
        self.client.publish(self.BARRIER, token)
        payloads: list[dict[str, Any]] = []
        while True:
            message = self.pubsub.get_message(timeout=10)
            assert message is not None, "our own barrier did not come back from Redis"
            if message["type"] == "pmessage":
                payloads.append(json.loads(message["data"]))
            elif message["type"] == "message" and message["data"].decode() == token:
                return payloads

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    executable = shutil.which("redis-server")
    if not executable:
        pytest.skip("Debian's redis-server is not installed (make system-deps installs it)")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(executable, free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
