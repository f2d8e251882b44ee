"""The ``kombu`` entry-point plugin of kombu-transport-redis.

Cheap to import: it names the transport classes as strings and never
imports redis-py; the core imports the transport on the first connection of
one of these schemes.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: What the Redis transport does (the conformance kit tests exactly these).
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=True,
    message_ttl=True,
    dead_lettering=True,
    max_length=True,
    queue_expires=True,
    delayed_delivery=False,
    native_acks=False,
    persistent_declarations=True,
    async_events=True,
    heartbeats=False,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """Describe ``redis://``, ``rediss://``, ``redis+socket://`` and ``sentinel://``."""
    common = {
        "distribution": "kombu-transport-redis",
        "client_package": "redis",
        "capabilities": CAPABILITIES,
    }
    return [
        TransportInfo(
            name="redis",
            schemes=("redis", "rediss", "redis+socket"),
            target="kombu_transport_redis.transport:Transport",
            kombu_modules=("redis",),
            description="Redis lists and PUB/SUB (redis-py), wire-compatible with Kombu 5",
            **common,  # type: ignore[arg-type]
        ),
        TransportInfo(
            name="sentinel",
            schemes=("sentinel",),
            target="kombu_transport_redis.transport:SentinelTransport",
            description="Redis through Sentinel (redis-py)",
            **common,  # type: ignore[arg-type]
        ),
    ]
