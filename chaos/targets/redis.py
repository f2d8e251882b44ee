"""redis://: a private redis-server with the append-only file on, fsynced on every write.

``appendfsync always``: the server answers a write only once it is in the
file, so what a SIGKILL loses is the transport's doing, never the server's
(with the default ``everysec`` a slow fsync postpones the file write while
the answers still go out, and a kill loses up to two seconds of answered
writes).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from ..target import Target, free_port, wait_until


class RedisTarget(Target):
    name = "redis"
    transport_options: dict[str, Any] = {
        "visibility_timeout": 3,
        "unacked_restore_interval": 0.5,
        "health_check_interval": 2,
    }
    redelivery_seconds = 3.0

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def available(self) -> str | None:
        if shutil.which("redis-server") is None:
            return "redis-server is not installed"
        try:
            import redis  # noqa: F401
        except ImportError:
            return "redis-py is not installed"
        return None

    def start(self, workdir: Path) -> None:
        if not self.port:
            self.port = free_port()
        datadir = workdir / "redis-data"
        datadir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(shutil.which("redis-server")),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(datadir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            wait_until(lambda: bool(client.ping()), 20, f"redis-server on port {self.port}")
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self.kill()
        self.port = 0

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def url(self, address: tuple[str, int] | None = None) -> str:
        host, port = address or self.address
        return f"redis://{host}:{port}/0"

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, a refused (pickle) content type, and
        stored values that are no envelope at all (not JSON; JSON that is not UTF-8)."""
        import redis

        def envelope(body: str, content_type: str, encoding: str | None) -> str:
            properties: dict[str, Any] = {
                "delivery_tag": str(uuid.uuid4()),
                "priority": 0,
                "delivery_mode": 2,
                "delivery_info": {"exchange": queue, "routing_key": queue},
            }
            if encoding:
                properties["body_encoding"] = encoding
            return json.dumps(
                {
                    "body": body,
                    "content-encoding": "utf-8",
                    "content-type": content_type,
                    "headers": {},
                    "properties": properties,
                }
            )

        not_utf8 = envelope("@", "application/json", None).encode().replace(b'"@"', b'"\xff\xfe"')
        poison: list[str | bytes] = [
            envelope("!!!not base64!!!", "application/json", "base64"),
            envelope("gASVAAAAAAAAAAAu", "application/x-python-serialize", "base64"),
            b"\x00 not json \xfe",
            not_utf8,
        ]
        client = redis.Redis(port=self.port)
        try:
            client.lpush(queue, *poison)
        finally:
            client.close()
        return len(poison)


TARGET = RedisTarget()
