"""The interface every transport implements (Kombu 5's ``kombu.transport.base``).

A *native* transport (AMQP) maps these methods one to one onto its client
library. A *virtual* transport subclasses :mod:`kombu.transport.virtual`,
which implements this interface on top of a few storage primitives.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kombu.exceptions import ChannelError, ConnectionError
from kombu.message import Message as BaseMessage
from kombu.utils.time import maybe_s_to_ms

if TYPE_CHECKING:
    from kombu.connection import Connection
    from kombu.hookspecs import Capabilities

__all__ = (
    "Message",
    "StdChannel",
    "Management",
    "Transport",
    "Implements",
    "to_queue_arguments",
    "apply_capabilities",
    "to_rabbitmq_queue_arguments",
    "RABBITMQ_QUEUE_ARGUMENTS",
    "maybe_s_to_ms",
)


#: Kombu's queue options and the AMQP queue argument each becomes, with the
#: conversion of its value (seconds to milliseconds for the durations).
RABBITMQ_QUEUE_ARGUMENTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "expires": ("x-expires", maybe_s_to_ms),
    "message_ttl": ("x-message-ttl", maybe_s_to_ms),
    "max_length": ("x-max-length", int),
    "max_length_bytes": ("x-max-length-bytes", int),
    "max_priority": ("x-max-priority", int),
}


def to_queue_arguments(arguments: Mapping[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    """Merge Kombu's queue options into AMQP ``x-`` queue arguments.

    ``expires`` and ``message_ttl`` are seconds and become milliseconds,
    the limits become ints (:data:`RABBITMQ_QUEUE_ARGUMENTS`); ``None``
    options and options not in that table are left out. Always returns a
    new dict (Kombu 5 returns ``arguments`` itself when no option is set).
    """
    args = dict(arguments or {})
    for key, value in options.items():
        if value is not None and key in RABBITMQ_QUEUE_ARGUMENTS:
            name, convert = RABBITMQ_QUEUE_ARGUMENTS[key]
            args[name] = convert(value)
    return args


#: Kombu 5's name for :func:`to_queue_arguments`.
to_rabbitmq_queue_arguments = to_queue_arguments


class Message(BaseMessage):
    """Kombu 5 exports the message class here too."""


class StdChannel:
    """Base class of every transport's channel."""

    no_ack_consumers: Any = None
    channel_id: Any = None

    def Consumer(self, *args: Any, **kwargs: Any) -> Any:
        from kombu.messaging import Consumer

        return Consumer(self, *args, **kwargs)

    def Producer(self, *args: Any, **kwargs: Any) -> Any:
        from kombu.messaging import Producer

        return Producer(self, *args, **kwargs)

    def get_bindings(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement get_bindings")

    def after_reply_message_received(self, queue: str) -> None:
        """Called after a reply to a request-reply (pidbox) call arrived on ``queue``."""

    def prepare_queue_arguments(self, arguments: Mapping[str, Any] | None, **kwargs: Any) -> dict[str, Any]:
        """Return the broker arguments for a queue declared with ``kwargs``."""
        return to_queue_arguments(arguments, **kwargs)

    def __enter__(self) -> StdChannel:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()  # type: ignore[attr-defined]


class Management:
    """Broker management API (optional; none of the core's transports need it)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def get_bindings(self) -> Any:
        raise NotImplementedError("Your transport does not implement list_bindings")


_Management = Management


class Implements(dict):  # type: ignore[type-arg]
    """Feature flags of a transport, readable as attributes."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def extend(self, **kwargs: Any) -> Implements:
        return self.__class__(self, **kwargs)


default_transport_capabilities = Implements(
    asynchronous=False,
    exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    heartbeats=False,
)


def apply_capabilities(transport: Transport, capabilities: Capabilities | None) -> None:
    """Give ``transport`` its capabilities and derive Kombu 5's ``implements`` from them.

    ``capabilities`` is what the transport's plugin declared
    (:class:`kombu.hookspecs.TransportInfo`). A transport class used without a
    plugin (``Connection(transport=SomeClass)``) keeps the ``capabilities``
    class attribute it declares; one that declares none gets
    ``Capabilities()``: it fails closed, every optional feature refused.
    ``implements`` (read by ``Connection.is_evented``,
    ``supports_heartbeats`` and ``supports_exchange_type``) always agrees
    with the capabilities: there is one declaration, not two.
    """
    if capabilities is None:
        capabilities = getattr(transport, "capabilities", None)
    if capabilities is None:
        from kombu.hookspecs import Capabilities

        capabilities = Capabilities()
    transport.capabilities = capabilities
    transport.implements = transport.implements.extend(
        asynchronous=capabilities.async_events,
        heartbeats=capabilities.heartbeats,
        exchange_type=frozenset(capabilities.exchange_types),
    )


class Transport:
    """Base class of every transport.

    ``Transport(client)`` is made by :class:`kombu.Connection`; ``client`` is
    that connection and carries the parsed URL (``hostname``, ``port``,
    ``userid``, ``password``, ``virtual_host``), ``ssl``, ``heartbeat``,
    ``connect_timeout`` and ``transport_options``.

    Contract: ``establish_connection()`` returns the transport's connection
    object (or raises one of ``connection_errors``); ``create_channel(conn)``
    returns a :class:`StdChannel`; ``drain_events(conn, timeout)`` delivers
    at least one event or raises :class:`socket.timeout`.
    """

    client: Connection | None = None
    default_port: int | None = None
    default_ssl_port: int | None = None
    polling_interval: float | None = None
    connection_errors: tuple[type[BaseException], ...] = (ConnectionError,)
    channel_errors: tuple[type[BaseException], ...] = (ChannelError,)
    driver_type = "N/A"
    driver_name = "N/A"
    #: Kombu 5's flag for a transport that parses the connection URL itself.
    #: Always false here: :class:`~kombu.Connection` parses every URL before
    #: the transport class is imported (transports load lazily, on first
    #: use), so a transport reads the parsed parts from its ``client``.
    can_parse_url = False
    Management: type[_Management] = Management
    implements = default_transport_capabilities
    #: What the transport can do; set by :func:`apply_capabilities` when a
    #: Connection makes the transport (from its plugin's declaration).
    capabilities: Capabilities | None = None

    def __init__(self, client: Connection, **kwargs: Any) -> None:
        self.client = client

    @property
    def recoverable_connection_errors(self) -> tuple[type[BaseException], ...]:
        """Errors after which reconnecting may help (the connection is dead)."""
        return self.connection_errors

    @property
    def recoverable_channel_errors(self) -> tuple[type[BaseException], ...]:
        """Errors after which a new channel on the same connection may help."""
        return ()

    def establish_connection(self) -> Any:
        raise NotImplementedError("Subclass responsibility")

    def close_connection(self, connection: Any) -> None:
        raise NotImplementedError("Subclass responsibility")

    def create_channel(self, connection: Any) -> Any:
        raise NotImplementedError("Subclass responsibility")

    def close_channel(self, channel: Any) -> None:
        raise NotImplementedError("Subclass responsibility")

    def drain_events(self, connection: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Subclass responsibility")

    def heartbeat_check(self, connection: Any, rate: int = 2) -> None:
        """Send/check heartbeats; a no-op where the broker has none."""

    def driver_version(self) -> str:
        return "N/A"

    def get_heartbeat_interval(self, connection: Any) -> float:
        return 0

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be driven by an event loop")

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        pass

    def verify_connection(self, connection: Any) -> bool:
        return True

    def qos_semantics_matches_spec(self, connection: Any) -> bool:
        return True

    def on_readable(self, connection: Any, loop: Any) -> None:
        reader = getattr(self, "_reader", None)
        if reader is None:
            self._reader = reader = self._make_reader(connection)
        reader(loop)

    def _make_reader(self, connection: Any, timeout: type[BaseException] = TimeoutError, _errno: Any = errno) -> Any:
        drain_events = connection.drain_events

        def _read(loop: Any) -> None:
            try:
                drain_events(timeout=0)
            except timeout:
                return
            except OSError as exc:
                if exc.errno in (_errno.EAGAIN, _errno.EINTR):
                    return
                raise

        return _read

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """Format ``uri`` for display; the password is masked unless asked for."""
        if include_password:
            return uri
        from kombu.utils.url import as_url, url_to_parts

        try:
            return as_url(*url_to_parts(uri), sanitize=True, mask=mask)
        except ValueError:
            return uri

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {}

    def get_manager(self, *args: Any, **kwargs: Any) -> _Management:
        return self.Management(self)

    @property
    def manager(self) -> _Management:
        return self.get_manager()

    @property
    def supports_heartbeats(self) -> bool:
        return bool(self.implements.heartbeats)

    @property
    def supports_ev(self) -> bool:
        return bool(self.implements.asynchronous)
