"""mongodb://: a private nx-27017 (the MongoDB wire protocol over SQLite) with its data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..servers import TOOLS, ServerTarget
from ..target import poison_envelope

_DATABASE = "chaos"


class MongoDBTarget(ServerTarget):
    name = "mongodb"
    transport_options: dict[str, Any] = {
        "visibility_timeout": 3,
        "lease_interval": 0.5,
        "restore_interval": 0.3,
        "polling_interval": 0.1,
    }
    redelivery_seconds = 3.0
    url_format = f"mongodb://{{host}}:{{port}}/{_DATABASE}"
    program = "nx-27017"
    installed_at = TOOLS / "tools-venv" / "bin" / "nx-27017"
    install_hint = "scripts/services.sh mongodb"
    protocol = "mongodb"
    start_timeout = 30.0
    data_dir = "mongodb-data"
    clients = ("pymongo",)

    def command(self, workdir: Path, data: Path) -> list[str]:
        return [
            str(self.binary()),
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--data-dir",
            str(data),
            "--log-file",
            str(workdir / "nx-27017.log"),
            "--pid-file",
            str(workdir / "nx-27017.pid"),
        ]

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""

        poison = [
            json.dumps(poison_envelope(queue, "!!!not base64!!!", "application/json")),
            json.dumps(poison_envelope(queue, "gASVAAAAAAAAAAAu", "application/x-python-serialize")),
        ]
        import pymongo

        client: Any = pymongo.MongoClient(f"mongodb://127.0.0.1:{self.port}/", serverSelectionTimeoutMS=5000)
        try:
            # Kombu 5.7's message document: {queue, payload, priority (9 - priority)}.
            client[_DATABASE]["messages"].insert_many(
                [{"queue": queue, "payload": payload, "priority": 9} for payload in poison]
            )
        finally:
            client.close()
        return len(poison)


TARGET = MongoDBTarget()
