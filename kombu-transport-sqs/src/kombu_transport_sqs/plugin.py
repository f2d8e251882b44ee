"""The ``kombu`` entry-point plugin of kombu-transport-sqs.

Cheap to import: it describes the transport and names its class as a
string; boto3 is imported only when an ``sqs://`` connection is made.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: What the SQS transport does (the conformance kit tests exactly these).
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=False,
    message_ttl=True,
    queue_expires=True,
    max_length=True,
    dead_lettering=True,
    delayed_delivery=True,
    native_acks=True,
    persistent_declarations=True,
    async_events=True,
    heartbeats=False,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """Describe ``sqs://``."""
    return [
        TransportInfo(
            name="sqs",
            schemes=("sqs",),
            target="kombu_transport_sqs.transport:Transport",
            distribution="kombu-transport-sqs",
            client_package="boto3",
            kombu_modules=("SQS", "sqs"),
            capabilities=CAPABILITIES,
            description="Amazon SQS queues, SNS fanout (boto3), wire-compatible with Kombu 5",
        )
    ]
