"""beanstalk://: a private beanstalkd with a binlog (``-b``), so jobs survive a SIGKILL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..target import Target, free_port, wait_until


class BeanstalkTarget(Target):
    name = "beanstalk"
    # TTR (the lease) of 3 s: a consumer cut off without a FIN gives its jobs back quickly.
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "socket_timeout": 10}
    redelivery_seconds = 3.0

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def available(self) -> str | None:
        if shutil.which("beanstalkd") is None:
            return "beanstalkd is not installed"
        try:
            import greenstalk  # noqa: F401
        except ImportError:
            return "greenstalk is not installed"
        return None

    def start(self, workdir: Path) -> None:
        if not self.port:
            self.port = free_port()
        binlog = workdir / "beanstalkd-binlog"
        binlog.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(shutil.which("beanstalkd")),
                "-l",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-b",
                str(binlog),
                "-z",
                str(1 << 20),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import greenstalk

        def answers() -> bool:
            with greenstalk.Client(("127.0.0.1", self.port)) as client:
                return bool(client.using())

        wait_until(answers, 20, f"beanstalkd on port {self.port}")

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
        return f"beanstalk://{host}:{port}"

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""
        import greenstalk
        from kombu_transport_beanstalk.names import tube_for

        def job(body: str, content_type: str) -> bytes:
            properties = {
                "priority": 0,
                "body_encoding": "base64",
                "delivery_info": {"exchange": queue, "routing_key": queue},
            }
            return json.dumps(
                {
                    "body": body,
                    "content-encoding": "utf-8",
                    "content-type": content_type,
                    "headers": {},
                    "properties": properties,
                    "queue": queue,
                }
            ).encode()

        poison = [
            job("!!!not base64!!!", "application/json"),
            job("gASVAAAAAAAAAAAu", "application/x-python-serialize"),
        ]
        with greenstalk.Client(("127.0.0.1", self.port), encoding=None, use=tube_for(queue)) as client:
            for body in poison:
                client.put(body)
        return len(poison)


TARGET = BeanstalkTarget()
