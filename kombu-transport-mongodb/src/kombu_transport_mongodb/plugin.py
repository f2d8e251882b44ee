"""The ``kombu`` entry-point plugin of kombu-transport-mongodb.

Cheap to import: it names the transport class as a string and never imports
pymongo; the core imports the transport on the first ``mongodb://`` connection.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: What the MongoDB transport does (the conformance kit tests exactly these).
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=True,
    message_ttl=True,
    queue_expires=True,
    max_length=True,
    dead_lettering=True,
    delayed_delivery=True,
    native_acks=False,
    persistent_declarations=True,
    async_events=True,
    heartbeats=False,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """Describe ``mongodb://`` (and ``mongodb+srv://``)."""
    return [
        TransportInfo(
            name="mongodb",
            schemes=("mongodb", "mongodb+srv"),
            target="kombu_transport_mongodb.transport:Transport",
            distribution="kombu-transport-mongodb",
            client_package="pymongo",
            kombu_modules=("mongodb",),
            capabilities=CAPABILITIES,
            description="MongoDB collections (pymongo): leased claims, Kombu 5 layout",
        ),
    ]
