"""sqs://: a private moto server (SQS in memory).

moto keeps no data across a restart, so ``server-kill`` cannot be survived by
any client (every queue and message is gone) and is not listed. A TCP cut is a
retried HTTP request (moto closes the connection after every response anyway).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ..servers import HOST, TOOLS, ServerTarget
from ..target import poison_envelope

MOTO = TOOLS / "tools-venv" / "bin" / "moto_server"


class SQSTarget(ServerTarget):
    name = "sqs"
    faults = ("tcp-cut", "idle-drop", "consumer-kill", "poison")
    #: Faults of modules of their own (``chaos.stop_mid_poll``).
    extra_faults = ("stop-mid-poll",)
    # A 3 s lease: a SIGKILLed consumer's messages return quickly; 1 s long polls.
    transport_options: dict[str, Any] = {"visibility_timeout": 3, "wait_time_seconds": 1}
    redelivery_seconds = 3.0
    url_format = "sqs://chaos:chaos@{host}:{port}"
    program = "moto_server"
    installed_at = MOTO
    install_hint = "bash scripts/services.sh sqs"
    clients = ("boto3",)
    log = "moto.log"
    start_timeout = 30.0

    def command(self, workdir: Path, data: Path) -> list[str]:
        return [str(self.binary()), "-H", HOST, "-p", str(self.port)]

    def answers(self) -> bool:
        return self._client().list_queues() is not None

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=f"http://{HOST}:{self.port}",
            region_name="us-east-1",
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
        )

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
            envelope = poison_envelope(queue, payload, content_type)
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
