"""A server restart under a producer (``ensure``) and a consumer (``ConsumerMixin``): nothing lost.

Runs a PRIVATE nx-27017 on a free port (never the shared one), with its data
directory kept across the restart, as a real server with storage would.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer, Queue
from kombu.testing.services import missing_service

from .conftest import ROOT, require_mongodb

NX = ROOT / ".services" / "tools-venv" / "bin" / "nx-27017"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateServer:
    """An nx-27017 of our own that the test may stop and start."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/restart_tests"

    def start(self) -> None:
        binary = NX if NX.exists() else shutil.which("nx-27017")
        if binary is None:
            missing_service("nx-27017 is not installed (scripts/services.sh mongodb)")
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--data-dir",
                str(self.dir / "data"),
                "--log-file",
                str(self.dir / "nx.log"),
                "--pid-file",
                str(self.dir / "nx.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import pymongo

        deadline = time.monotonic() + 30
        while True:
            try:
                client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500)
                try:
                    client.admin.command("ping")
                    return
                finally:
                    client.close()
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError("private nx-27017 did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    require_mongodb()
    server = PrivateServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


OPTIONS = {"visibility_timeout": 3, "lease_interval": 0.5, "restore_interval": 0.3, "polling_interval": 0.1}


def test_server_restart_with_ensure_and_consumer_mixin_loses_nothing(private_server: PrivateServer) -> None:
    from kombu.mixins import ConsumerMixin

    total = 200
    exchange = Exchange("restart.x")
    queue = Queue("restart.q", exchange, routing_key="restart.q")
    received: set[int] = set()
    errors: list[Any] = []

    class Worker(ConsumerMixin):
        def __init__(self, connection: Connection) -> None:
            self.connection = connection
            self.revived = 0

        def on_connection_revived(self) -> None:
            self.revived += 1

        def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
            return [Consumer(queues=[queue], callbacks=[self.on_message], prefetch_count=20)]

        def on_message(self, body: Any, message: Any) -> None:
            received.add(body["n"])
            message.ack()
            if len(received) >= total:
                self.should_stop = True

    worker = Worker(Connection(private_server.url, transport_options=OPTIONS, connect_timeout=2))
    thread = threading.Thread(target=worker.run, daemon=True)
    with Connection(private_server.url, transport_options=OPTIONS, connect_timeout=2) as conn:
        producer = Producer(conn.channel(), exchange=exchange)
        publish = conn.ensure(
            producer,
            producer.publish,
            max_retries=30,
            interval_start=0.2,
            interval_step=0.5,
            interval_max=1,
            errback=lambda exc, interval: errors.append(exc),
        )
        queue(conn.channel()).declare()
        thread.start()
        restarter = threading.Thread(target=private_server.restart)
        for n in range(total):
            if n == total // 4:
                restarter.start()  # the server goes away while we publish
            publish({"n": n}, routing_key="restart.q", declare=[queue])
        restarter.join(60)
        thread.join(90)
        worker.should_stop = True
    missing = set(range(total)) - received
    assert not missing, f"lost {len(missing)} message(s): {sorted(missing)[:10]}"
    # The restart was felt: the publisher retried or the worker reconnected.
    assert errors or worker.revived >= 2, (errors, worker.revived)
    print("publisher retries:", len(errors), "worker connections:", worker.revived)
