"""mongodb://: a private nx-27017 (the MongoDB wire protocol over SQLite) with its data directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from ..target import Target, free_port, wait_until

#: Where ``scripts/services.sh mongodb`` installs nx-27017.
_TOOLS_NX = Path(__file__).resolve().parents[2] / ".services" / "tools-venv" / "bin" / "nx-27017"
_DATABASE = "chaos"


def _binary() -> str | None:
    if _TOOLS_NX.exists():
        return str(_TOOLS_NX)
    return shutil.which("nx-27017")


class MongoDBTarget(Target):
    name = "mongodb"
    transport_options: dict[str, Any] = {
        "visibility_timeout": 3,
        "lease_interval": 0.5,
        "restore_interval": 0.3,
        "polling_interval": 0.1,
    }
    redelivery_seconds = 3.0

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def available(self) -> str | None:
        if _binary() is None:
            return "nx-27017 is not installed (scripts/services.sh mongodb)"
        try:
            import pymongo  # noqa: F401
        except ImportError:
            return "pymongo is not installed"
        return None

    def _client(self, timeout_ms: int = 500) -> Any:
        import pymongo

        return pymongo.MongoClient(f"mongodb://127.0.0.1:{self.port}/", serverSelectionTimeoutMS=timeout_ms)

    def start(self, workdir: Path) -> None:
        if not self.port:
            self.port = free_port()
        datadir = workdir / "mongodb-data"
        datadir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(_binary()),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--data-dir",
                str(datadir),
                "--log-file",
                str(workdir / "nx-27017.log"),
                "--pid-file",
                str(workdir / "nx-27017.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ping() -> bool:
            client = self._client()
            try:
                return bool(client.admin.command("ping").get("ok"))
            except Exception:  # noqa: BLE001 - not up yet
                return False
            finally:
                client.close()

        wait_until(ping, 30, f"nx-27017 on port {self.port}")

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
        return f"mongodb://{host}:{port}/{_DATABASE}"

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""

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

        poison = [
            envelope("!!!not base64!!!", "application/json", "base64"),
            envelope("gASVAAAAAAAAAAAu", "application/x-python-serialize", "base64"),
        ]
        client = self._client(5000)
        try:
            # Kombu 5.7's message document: {queue, payload, priority (9 - priority)}.
            client[_DATABASE]["messages"].insert_many(
                [{"queue": queue, "payload": payload, "priority": 9} for payload in poison]
            )
        finally:
            client.close()
        return len(poison)


TARGET = MongoDBTarget()
