"""The ``kombu`` entry-point plugin of kombu-transport-couchdb.

Cheap to import: it names the transport class as a string and never imports
``requests``; the core imports the transport on the first ``couchdb://``
connection.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: What the CouchDB transport does (the conformance kit tests exactly these).
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=True,
    message_ttl=True,
    queue_expires=False,
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
    """Describe ``couchdb://`` and ``couchdbs://`` (HTTPS)."""
    return [
        TransportInfo(
            name="couchdb",
            schemes=("couchdb", "couchdbs"),
            target="kombu_transport_couchdb.transport:Transport",
            distribution="kombu-transport-couchdb",
            client_package="requests",
            kombu_modules=("couchdb",),
            capabilities=CAPABILITIES,
            description="CouchDB documents claimed with MVCC revisions (HTTP API, requests)",
        ),
    ]
