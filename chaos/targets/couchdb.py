"""couchdb://: a private pouchdb-server (the CouchDB HTTP API) in disk mode, so data survives a kill."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..target import Target, free_port, wait_until

#: Where ``scripts/services.sh couchdb`` installs pouchdb-server.
_TOOLS_POUCHDB = (
    Path(__file__).resolve().parents[2] / ".services" / "pouchdb-server" / "node_modules" / ".bin" / "pouchdb-server"
)
_DATABASE = "chaos"


def _binary() -> str | None:
    if _TOOLS_POUCHDB.exists():
        return str(_TOOLS_POUCHDB)
    return shutil.which("pouchdb-server")


class CouchDBTarget(Target):
    name = "couchdb"
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "lease_interval": 0.5, "polling_interval": 0.2}
    redelivery_seconds = 3.0

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def available(self) -> str | None:
        if _binary() is None:
            return "pouchdb-server is not installed (scripts/services.sh couchdb)"
        try:
            import requests  # noqa: F401
        except ImportError:
            return "requests is not installed"
        return None

    def start(self, workdir: Path) -> None:
        if not self.port:
            self.port = free_port()
        datadir = workdir / "couchdb-data"
        datadir.mkdir(parents=True, exist_ok=True)
        # Disk mode (no --in-memory): documents survive a SIGKILL. It writes
        # log.txt into its working directory.
        self.proc = subprocess.Popen(
            [
                str(_binary()),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(datadir),
                "--config",
                str(workdir / "pouchdb-config.json"),
                "--no-color",
            ],
            cwd=str(workdir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ping() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as reply:
                    return "version" in json.loads(reply.read())
            except Exception:  # noqa: BLE001 - not up yet
                return False

        wait_until(ping, 60, f"pouchdb-server on port {self.port}")

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
        return f"couchdb://{host}:{port}/{_DATABASE}"

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""
        import requests

        def document(body: str, content_type: str) -> dict[str, Any]:
            properties: dict[str, Any] = {
                "delivery_tag": str(uuid.uuid4()),
                "priority": 0,
                "delivery_mode": 2,
                "body_encoding": "base64",
                "delivery_info": {"exchange": queue, "routing_key": queue},
            }
            envelope = {
                "body": body,
                "content-encoding": "utf-8",
                "content-type": content_type,
                "headers": {},
                "properties": properties,
            }
            # The transport's message document (kombu_transport_couchdb.documents).
            return {
                "_id": f"kombu.m:{quote(queue, safe='')}:{uuid.uuid4().hex}",
                "queue": queue,
                "rank": 255,
                "seq": time.time_ns() // 1000,
                "visible": 0,
                "claim": None,
                "deliveries": 0,
                "payload": envelope,
            }

        poison = [
            document("!!!not base64!!!", "application/json"),
            document("gASVAAAAAAAAAAAu", "application/x-python-serialize"),
        ]
        reply = requests.post(f"http://127.0.0.1:{self.port}/{_DATABASE}/_bulk_docs", json={"docs": poison}, timeout=10)
        reply.raise_for_status()
        return len(poison)


TARGET = CouchDBTarget()
