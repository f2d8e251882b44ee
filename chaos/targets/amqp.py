"""amqp://: RabbitMQ through py-amqp, on the shared broker (127.0.0.1:5672).

The suite must not restart the RabbitMQ other tests run on, so this target
has no ``server-kill``: its faults are the proxy's (``tcp-cut``,
``idle-drop``), ``consumer-kill`` (RabbitMQ requeues a dead connection's
unacked messages at once) and ``poison``. Only the scenario's own queues
and exchanges (``chaos.<target>.*``) are touched; :meth:`stop` deletes them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from ..target import Target, wait_until

HOST = "127.0.0.1"
PORT = int(os.environ.get("KOMBU_CHAOS_AMQP_PORT", "5672"))


class RabbitMQTarget(Target):
    """The shared RabbitMQ, reached through ``scheme``'s transport."""

    name = "amqp"
    scheme = "amqp"
    faults = ("tcp-cut", "idle-drop", "consumer-kill", "poison")
    transport_options: dict[str, Any] = {}
    redelivery_seconds = 1.0

    def available(self) -> str | None:
        try:
            with socket.create_connection((HOST, PORT), 2):
                pass
        except OSError as exc:
            return f"RabbitMQ at {HOST}:{PORT}: {exc}"
        try:
            import amqp  # noqa: F401
            __import__(self.client_module)
        except ImportError as exc:
            return f"client missing: {exc}"
        return None

    client_module = "amqp"

    def start(self, workdir: Path) -> None:
        wait_until(lambda: self.available() is None, 20, f"RabbitMQ on {HOST}:{PORT}")

    def kill(self) -> None:
        raise NotImplementedError("the shared RabbitMQ is never killed (no server-kill fault)")

    def stop(self) -> None:
        """Delete the queues and exchanges the scenarios of this target declared."""
        prefix = f"chaos.{self.name}."
        names = self._entities("list_queues") | self._entities("list_exchanges")
        mine = sorted(n for n in names if n.startswith(prefix))
        if not mine:
            return
        conn = self._raw()
        try:
            for name in mine:
                channel = conn.channel()
                try:
                    channel.queue_delete(name)
                    channel.exchange_delete(name)
                except Exception:  # noqa: BLE001 - one of the two does not exist
                    pass
        finally:
            conn.close()

    @staticmethod
    def _entities(command: str) -> set[str]:
        tool = shutil.which("rabbitmqctl")
        if tool is None:
            return set()
        try:
            out = subprocess.run([tool, "-q", command, "name", "--no-table-headers"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return set()
        return {line.strip() for line in out.splitlines() if line.strip()}

    @property
    def address(self) -> tuple[str, int]:
        return HOST, PORT

    def url(self, address: tuple[str, int] | None = None) -> str:
        host, port = address or self.address
        return f"{self.scheme}://guest:guest@{host}:{port}//"

    @staticmethod
    def _raw() -> Any:
        import amqp

        conn = amqp.Connection(f"{HOST}:{PORT}", userid="guest", password="guest")
        conn.connect()
        return conn

    def inject_poison(self, queue: str) -> int:
        """Non-UTF-8 properties, a corrupt JSON body and a refused (pickle) content type."""
        import amqp

        poison = [
            amqp.Message(b'{"n": -1}', content_type=b"application/\xffjson",
                         content_encoding="utf-8"),
            amqp.Message(b'{"n": -2}', content_type="application/json",
                         content_encoding="utf-8", correlation_id=b"\xc3\x28"),
            amqp.Message(b"{not json", content_type="application/json", content_encoding="utf-8"),
            amqp.Message(b"\x80\x04K\x01.", content_type="application/x-python-serialize",
                         content_encoding="binary"),
        ]
        conn = self._raw()
        try:
            channel = conn.channel()
            for message in poison:
                channel.basic_publish(message, exchange=queue, routing_key=queue)
        finally:
            conn.close()
        return len(poison)


TARGET = RabbitMQTarget()
