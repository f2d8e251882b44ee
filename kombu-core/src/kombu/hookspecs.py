"""The hook specifications a Kombu plugin implements.

A plugin is a module (or any object) with functions named after the hooks
below, decorated with :data:`hookimpl`. A distribution announces its plugin
in the ``kombu`` entry-point group::

    [project.entry-points.kombu]
    my-transport = "my_package.plugin"

The core loads that group once, on first need (the first ``Connection``,
serializer or compressor lookup), then calls each hook on every plugin and
merges the answers. The core's own transports, serializers and compressors
come through these same hooks (``kombu.builtins``).

A plugin module must be cheap to import: it describes what it offers and
names, as strings, where the real code lives. The broker client library is
imported only when a connection of that scheme is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

PROJECT = "kombu"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = (
    "PROJECT",
    "hookspec",
    "hookimpl",
    "Capabilities",
    "TransportInfo",
    "SerializerInfo",
    "CompressorInfo",
    "kombu_transports",
    "kombu_serializers",
    "kombu_compressors",
)

ALL_EXCHANGE_TYPES = frozenset({"direct", "topic", "fanout", "headers"})


@dataclass(frozen=True)
class Capabilities:
    """What a transport can do; the conformance kit tests exactly these.

    A capability set to ``False`` must fail loudly when used: the transport
    raises :class:`kombu.exceptions.CapabilityNotSupported` (a
    ``NotImplementedError``), never ignores the request.

    Attributes:
        exchange_types: exchange types ``exchange_declare`` accepts.
        priorities: ``Queue(max_priority=...)`` and ``publish(priority=...)``
            deliver higher priorities first.
        message_ttl: ``Queue(message_ttl=...)`` and ``publish(expiration=...)``
            drop messages older than their TTL.
        queue_expires: ``Queue(expires=...)`` deletes an unused queue.
        max_length: ``Queue(max_length=...)`` bounds the queue, with RabbitMQ's
            ``x-overflow`` (``drop-head`` by default, ``reject-publish``).
        dead_lettering: ``x-dead-letter-exchange``/``-routing-key`` receive
            rejected (no requeue), expired and overflowed messages, with an
            ``x-death`` header.
        delayed_delivery: messages can be published to become visible later.
        native_acks: the broker itself tracks unacknowledged deliveries and
            redelivers them when the consumer's connection dies.
        persistent_declarations: exchanges and bindings declared by one
            process are seen by every other process on the broker.
        async_events: ``Transport.register_with_event_loop`` is implemented.
        heartbeats: ``Connection.heartbeat_check`` does real work.
    """

    exchange_types: frozenset[str] = ALL_EXCHANGE_TYPES
    priorities: bool = False
    message_ttl: bool = False
    queue_expires: bool = False
    max_length: bool = False
    dead_lettering: bool = False
    delayed_delivery: bool = False
    native_acks: bool = False
    persistent_declarations: bool = False
    async_events: bool = False
    heartbeats: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the flags as a plain dict (exchange types sorted)."""
        return {
            "exchange_types": sorted(self.exchange_types),
            "priorities": self.priorities,
            "message_ttl": self.message_ttl,
            "queue_expires": self.queue_expires,
            "max_length": self.max_length,
            "dead_lettering": self.dead_lettering,
            "delayed_delivery": self.delayed_delivery,
            "native_acks": self.native_acks,
            "persistent_declarations": self.persistent_declarations,
            "async_events": self.async_events,
            "heartbeats": self.heartbeats,
        }


@dataclass(frozen=True)
class TransportInfo:
    """A transport a plugin offers.

    Attributes:
        name: the canonical name, e.g. ``"redis"``.
        schemes: URL schemes that select it, e.g. ``("redis", "rediss")``.
            The first is canonical. Schemes are matched case-insensitively.
        target: ``"package.module:TransportClass"``, imported on first use.
        distribution: the distribution to ``pip install`` for it.
        client_package: the broker client library it imports, or ``None``.
        kombu_modules: Kombu 5 module names under ``kombu.transport`` that
            must import as this transport's module, e.g. ``("redis",)``
            makes ``import kombu.transport.redis`` give the target's module.
        capabilities: what the transport can do.
        description: one line for ``python -m kombu``.
    """

    name: str
    schemes: Sequence[str]
    target: str
    distribution: str
    client_package: str | None = None
    kombu_modules: Sequence[str] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    description: str = ""

    @property
    def module(self) -> str:
        """The import path of the module holding the transport class."""
        return self.target.partition(":")[0]


@dataclass(frozen=True)
class SerializerInfo:
    """A serializer a plugin offers.

    Attributes:
        name: the name used in ``publish(serializer=...)`` and ``accept=``.
        content_type: the MIME type written on messages it encodes.
        content_encoding: ``"utf-8"`` for text formats, ``"binary"`` otherwise.
        encode: object -> ``str`` or ``bytes``. Raise on failure; the core
            wraps it in :class:`kombu.exceptions.EncodeError`.
        decode: ``bytes`` or ``str`` -> object. Raise on failure; the core
            wraps it in :class:`kombu.exceptions.DecodeError`.
        trusted_only: ``True`` when decoding can run arbitrary code or build
            arbitrary objects (pickle, yaml): consumers refuse it unless the
            application accepts it explicitly.
        aliases: other names that select it.
        accepted_by_default: whether a consumer with no ``accept`` list
            decodes it; ``None`` means ``not trusted_only``. Kombu refuses
            msgpack by default too, although it runs no code.
    """

    name: str
    content_type: str
    content_encoding: str
    encode: Callable[[Any], bytes | str]
    decode: Callable[[bytes | str], Any]
    trusted_only: bool = False
    aliases: Sequence[str] = ()
    accepted_by_default: bool | None = None

    @property
    def default_accept(self) -> bool:
        """Whether consumers without an ``accept`` list decode this content."""
        if self.accepted_by_default is None:
            return not self.trusted_only
        return self.accepted_by_default


@dataclass(frozen=True)
class CompressorInfo:
    """A compressor a plugin offers.

    Attributes:
        name: the name used in ``publish(compression=...)``.
        content_type: written in the ``compression`` message header,
            e.g. ``"application/x-gzip"`` for zlib.
        compress: ``bytes`` -> ``bytes``.
        decompress: ``bytes`` -> ``bytes``.
        aliases: other names that select it.
    """

    name: str
    content_type: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    aliases: Sequence[str] = ()


@hookspec
def kombu_transports() -> Sequence[TransportInfo]:
    """Return the transports this plugin provides.

    Called once per process. Must not import the broker client library: put
    the transport class in ``TransportInfo.target`` as a string. Two plugins
    claiming one scheme is an error reported at load time, naming both.
    """
    raise NotImplementedError


@hookspec
def kombu_serializers() -> Sequence[SerializerInfo]:
    """Return the serializers this plugin provides.

    Called once per process. A serializer whose library is missing should not
    be returned (check with ``importlib.util.find_spec``), so that
    ``python -m kombu`` lists only what works.
    """
    raise NotImplementedError


@hookspec
def kombu_compressors() -> Sequence[CompressorInfo]:
    """Return the compressors this plugin provides.

    Called once per process. As with serializers, return only compressors
    whose library is importable.
    """
    raise NotImplementedError
