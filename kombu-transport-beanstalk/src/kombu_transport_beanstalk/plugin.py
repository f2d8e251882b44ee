"""The ``kombu`` entry-point plugin of kombu-transport-beanstalk.

Cheap to import: it names the transport class as a string and never imports
greenstalk; the core imports the transport on the first ``beanstalk://``
connection.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: What the beanstalk transport does (the conformance kit tests exactly these).
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=True,
    message_ttl=True,
    queue_expires=False,
    max_length=True,
    dead_lettering=True,
    delayed_delivery=True,
    native_acks=True,
    persistent_declarations=False,
    async_events=True,
    heartbeats=False,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """Describe ``beanstalk://``."""
    return [
        TransportInfo(
            name="beanstalk",
            schemes=("beanstalk",),
            target="kombu_transport_beanstalk.transport:Transport",
            distribution="kombu-transport-beanstalk",
            client_package="greenstalk",
            kombu_modules=("beanstalk",),
            capabilities=CAPABILITIES,
            description="beanstalkd tubes (greenstalk): native priorities, delays and TTR leases",
        )
    ]
