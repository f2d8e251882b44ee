"""redis://: a private redis-server with the append-only file on, fsynced on every write.

``appendfsync always``: the server answers a write only once it is in the
file, so what a SIGKILL loses is the transport's doing, never the server's
(with the default ``everysec`` a slow fsync postpones the file write while
the answers still go out, and a kill loses up to two seconds of answered
writes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..servers import ServerTarget
from ..target import poison_envelope


class RedisTarget(ServerTarget):
    name = "redis"
    transport_options: dict[str, Any] = {
        "visibility_timeout": 3,
        "unacked_restore_interval": 0.5,
        "health_check_interval": 2,
    }
    redelivery_seconds = 3.0
    url_format = "redis://{host}:{port}/0"
    program = "redis-server"
    data_dir = "redis-data"
    clients = ("redis",)

    def command(self, workdir: Path, data: Path) -> list[str]:
        return [
            str(self.binary()),
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
            str(data),
        ]

    def answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, a refused (pickle) content type, and
        stored values that are no envelope at all (not JSON; JSON that is not UTF-8)."""
        import redis

        def envelope(body: str, content_type: str, encoding: str | None) -> str:
            return json.dumps(poison_envelope(queue, body, content_type, encoding))

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
