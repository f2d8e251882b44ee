"""amqp://: RabbitMQ through py-amqp, on a private RabbitMQ node of the suite's own.

The node is started with ``scripts/services.sh`` on a free port (any port
but 5672 gets its own node name, distribution port and data directory
there), so ``server-kill`` SIGKILLs only it and restarts it on the same
data; the RabbitMQ other tests run on is never touched. ``amqp`` and
``pika`` share the node. Without ``rabbitmq-server`` installed, or with
``KOMBU_CHAOS_AMQP_PORT`` naming a running broker, the target runs on that
broker instead and has no ``server-kill``; :meth:`RabbitMQTarget.stop` then
deletes the scenarios' queues and exchanges (``chaos.<target>.*``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

from ..servers import HOST, ROOT, TOOLS, PrivateServer
from ..target import FAULTS, Target, free_port, wait_until

SERVICES = ROOT / "scripts" / "services.sh"
FIXED_PORT = os.environ.get("KOMBU_CHAOS_AMQP_PORT")
PRIVATE = FIXED_PORT is None and shutil.which("rabbitmq-server") is not None


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), 2):
            return True
    except OSError:
        return False


class _Node(PrivateServer):
    """The private RabbitMQ node (one for every target of this module), by reference count.

    ``scripts/services.sh`` starts it detached (and waits for an AMQP login),
    so there is no child process: :meth:`kill` signals the pid the node wrote.
    """

    program = "rabbitmq-server"
    start_timeout = 20.0

    def __init__(self) -> None:
        super().__init__()
        self.users = 0

    @property
    def dir(self) -> Path:
        # not under workdir: the node runs as the rabbitmq user, which must
        # reach its files (a private temporary directory is not traversable)
        return TOOLS / f"chaos-rabbitmq-{self.port}"

    def _env(self) -> dict[str, str]:
        return dict(os.environ, AMQP_PORT=str(self.port), SERVICES_DIR=str(self.dir), SERVICES_TIMEOUT="120")

    def pick_port(self) -> int:
        while True:  # the node also listens on port + 20000 (Erlang distribution)
            port = free_port()
            if port < 45000 and not _answers(port + 20000):
                return port

    def answers(self) -> bool:
        return _answers(self.port)

    def launch(self, workdir: Path) -> None:
        run = subprocess.run(
            ["bash", str(SERVICES), "rabbitmq"],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if run.returncode:
            raise RuntimeError(f"private RabbitMQ on port {self.port}: {run.stderr.strip()}")

    def kill(self) -> None:
        pidfile = self.dir / f"rabbitmq-{self.port}" / "rabbitmq.pid"
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _answers(self.port), 20, "the killed RabbitMQ going away")

    def stop(self) -> None:
        if self.port:
            subprocess.run(
                ["bash", str(SERVICES), "--stop", "rabbitmq"],
                env=self._env(),
                capture_output=True,
                timeout=120,
                check=False,
            )
            shutil.rmtree(self.dir, ignore_errors=True)
        self.port = 0


_NODE = _Node()


class RabbitMQTarget(Target):
    """RabbitMQ reached through the transport of ``url_format``'s scheme."""

    name = "amqp"
    url_format = "amqp://guest:guest@{host}:{port}//"
    client_module = "amqp"
    faults = FAULTS if PRIVATE else tuple(f for f in FAULTS if f != "server-kill")
    transport_options: dict[str, Any] = {}
    redelivery_seconds = 1.0

    def __init__(self) -> None:
        self.started = False

    def available(self) -> str | None:
        try:
            import amqp  # noqa: F401

            __import__(self.client_module)
        except ImportError as exc:
            return f"client missing: {exc}"
        if PRIVATE:
            if shutil.which("rabbitmqctl") is None:
                return "rabbitmqctl is not installed"
            return None
        if not _answers(int(FIXED_PORT or 5672)):
            return f"no RabbitMQ on {HOST}:{FIXED_PORT or 5672}"
        return None

    def start(self, workdir: Path) -> None:
        if not PRIVATE:
            wait_until(lambda: _answers(self.address[1]), 20, f"RabbitMQ on {self.address}")
            return
        if not self.started:
            self.started = True
            _NODE.users += 1
        _NODE.start(workdir)  # after kill(): the same port and data

    def kill(self) -> None:
        if not PRIVATE:
            raise NotImplementedError("the shared RabbitMQ is never killed")
        _NODE.kill()

    def stop(self) -> None:
        if PRIVATE:
            if self.started:
                self.started = False
                _NODE.users -= 1
                if _NODE.users <= 0:
                    _NODE.stop()
            return
        self._delete_entities()

    def _delete_entities(self) -> None:
        """Delete what this target's scenarios declared on the shared broker."""
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
            out = subprocess.run(
                [tool, "-q", command, "name", "--no-table-headers"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return set()
        return {line.strip() for line in out.splitlines() if line.strip()}

    @property
    def address(self) -> tuple[str, int]:
        return HOST, (_NODE.port if PRIVATE else int(FIXED_PORT or 5672))

    def _raw(self) -> Any:
        import amqp

        conn = amqp.Connection(f"{HOST}:{self.address[1]}", userid="guest", password="guest")
        conn.connect()
        return conn

    def inject_poison(self, queue: str) -> int:
        """Non-UTF-8 properties, a corrupt JSON body and a refused (pickle) content type."""
        import amqp

        poison = [
            amqp.Message(b'{"n": -1}', content_type=b"application/\xffjson", content_encoding="utf-8"),
            amqp.Message(
                b'{"n": -2}', content_type="application/json", content_encoding="utf-8", correlation_id=b"\xc3\x28"
            ),
            amqp.Message(b"{not json", content_type="application/json", content_encoding="utf-8"),
            amqp.Message(b"\x80\x04K\x01.", content_type="application/x-python-serialize", content_encoding="binary"),
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
