"""couchdb://: a private pouchdb-server (the CouchDB HTTP API) in disk mode, so data survives a kill."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..servers import TOOLS, ServerTarget
from ..target import poison_envelope

_DATABASE = "chaos"


class CouchDBTarget(ServerTarget):
    name = "couchdb"
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "lease_interval": 0.5, "polling_interval": 0.2}
    redelivery_seconds = 3.0
    url_format = f"couchdb://{{host}}:{{port}}/{_DATABASE}"
    program = "pouchdb-server"
    installed_at = TOOLS / "pouchdb-server" / "node_modules" / ".bin" / "pouchdb-server"
    install_hint = "scripts/services.sh couchdb"
    protocol = "couchdb"
    start_timeout = 60.0
    data_dir = "couchdb-data"
    clients = ("requests",)

    def command(self, workdir: Path, data: Path) -> list[str]:
        # Disk mode (no --in-memory): documents survive a SIGKILL. It writes
        # log.txt into its working directory, the work directory.
        return [
            str(self.binary()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(data),
            "--config",
            str(workdir / "pouchdb-config.json"),
            "--no-color",
        ]

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""
        import requests

        def document(body: str, content_type: str) -> dict[str, Any]:
            # The transport's message document (kombu_transport_couchdb.documents).
            return {
                "_id": f"kombu.m:{quote(queue, safe='')}:{uuid.uuid4().hex}",
                "queue": queue,
                "rank": 255,
                "seq": time.time_ns() // 1000,
                "visible": 0,
                "claim": None,
                "deliveries": 0,
                "payload": poison_envelope(queue, body, content_type),
            }

        poison = [
            document("!!!not base64!!!", "application/json"),
            document("gASVAAAAAAAAAAAu", "application/x-python-serialize"),
        ]
        reply = requests.post(f"http://127.0.0.1:{self.port}/{_DATABASE}/_bulk_docs", json={"docs": poison}, timeout=10)
        reply.raise_for_status()
        return len(poison)


TARGET = CouchDBTarget()
