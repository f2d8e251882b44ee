"""beanstalk://: a private beanstalkd with a binlog (``-b``), so jobs survive a SIGKILL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..servers import ServerTarget
from ..target import poison_envelope


class BeanstalkTarget(ServerTarget):
    name = "beanstalk"
    # TTR (the lease) of 3 s: a consumer cut off without a FIN gives its jobs back quickly.
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "socket_timeout": 10}
    redelivery_seconds = 3.0
    url_format = "beanstalk://{host}:{port}"
    program = "beanstalkd"
    protocol = "beanstalk"
    data_dir = "beanstalkd-binlog"
    clients = ("greenstalk",)

    def command(self, workdir: Path, data: Path) -> list[str]:
        return [str(self.binary()), "-l", "127.0.0.1", "-p", str(self.port), "-b", str(data), "-z", str(1 << 20)]

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""
        import greenstalk
        from kombu_transport_beanstalk.names import tube_for

        def job(body: str, content_type: str) -> bytes:
            # The transport's job body: the envelope with the queue's name added.
            return json.dumps({**poison_envelope(queue, body, content_type), "queue": queue}).encode()

        poison = [
            job("!!!not base64!!!", "application/json"),
            job("gASVAAAAAAAAAAAu", "application/x-python-serialize"),
        ]
        with greenstalk.Client(("127.0.0.1", self.port), encoding=None, use=tube_for(queue)) as client:
            for body in poison:
                client.put(body)
        return len(poison)


TARGET = BeanstalkTarget()
