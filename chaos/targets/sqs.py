"""sqs://: a private moto server (SQS in memory).

moto keeps no data across a restart, so ``server-kill`` cannot be survived by
any client (every queue and message is gone) and is not listed. A TCP cut is a
retried HTTP request (moto closes the connection after every response anyway).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from ..target import Target, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
MOTO = ROOT / ".services" / "tools-venv" / "bin" / "moto_server"


class SQSTarget(Target):
    name = "sqs"
    faults = ("tcp-cut", "idle-drop", "consumer-kill", "poison")
    #: Faults of modules of their own (``chaos.stop_mid_poll``).
    extra_faults = ("stop-mid-poll",)
    # A 3 s lease: a SIGKILLed consumer's messages return quickly; 1 s long polls.
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "wait_time_seconds": 1}
    redelivery_seconds = 3.0

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def available(self) -> str | None:
        if not MOTO.exists():
            return f"moto_server is not installed ({MOTO}; bash scripts/services.sh sqs)"
        try:
            import boto3  # noqa: F401
        except ImportError:
            return "boto3 is not installed"
        return None

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
        )

    def start(self, workdir: Path) -> None:
        if not self.port:
            self.port = free_port()
        log = open(workdir / "moto.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=log)
        log.close()
        client = self._client()
        wait_until(lambda: client.list_queues() is not None, 30, f"moto on port {self.port}")

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
        return f"sqs://chaos:chaos@{host}:{port}"

    def in_flight(self, queue: str) -> int:
        """Messages of ``queue`` received by some consumer and neither deleted nor visible again."""
        from kombu_transport_sqs.naming import entity_name

        client = self._client()
        url = client.get_queue_url(QueueName=entity_name(queue))["QueueUrl"]
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"])

    def inject_poison(self, queue: str) -> int:
        """A body that is not the base64 it claims, and a refused (pickle) content type."""
        from kombu_transport_sqs.naming import entity_name

        def body(payload: str, content_type: str) -> str:
            properties = {
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": "poison",
                "delivery_info": {"exchange": queue, "routing_key": queue},
            }
            envelope = {
                "body": payload,
                "content-encoding": "utf-8",
                "content-type": content_type,
                "headers": {},
                "properties": properties,
            }
            return base64.b64encode(json.dumps(envelope).encode()).decode()

        client = self._client()
        url = client.get_queue_url(QueueName=entity_name(queue))["QueueUrl"]
        poison = [
            body("!!!not base64!!!", "application/json"),
            body("gASVAAAAAAAAAAAu", "application/x-python-serialize"),
        ]
        for text in poison:
            client.send_message(QueueUrl=url, MessageBody=text)
        return len(poison)


TARGET = SQSTarget()
