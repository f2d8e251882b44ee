"""Virtual transports: AMQP semantics on brokers that only store messages.

A virtual transport subclasses :class:`Channel` and implements the storage
primitives of :class:`AbstractChannel` (``_get``, ``_put``, ``_purge``,
``_size``, ``_delete``, ``_new_queue``, ``_has_queue`` and, for brokers that
broadcast or store bindings, ``_put_fanout``, ``_queue_bind``,
``_queue_unbind`` and ``get_table``). Everything else is shared: exchanges
and bindings (:mod:`kombu.transport.virtual.exchange`), declaring and
publishing (here), consumers, delivery, prefetch, acknowledgement
bookkeeping and redelivery of unacked messages
(:mod:`kombu.transport.virtual.consuming`, :mod:`kombu.transport.virtual.qos`).
A transport whose storage keeps a record of what it handed out (a lease)
implements the two storage hooks ``_settle_deliveries`` and
``_release_deliveries`` (:class:`kombu.transport.contract.VirtualStorageHooks`)
and the engine tells it when a delivery is done with.

These are Kombu 5's class and method names, so a Kombu 5 virtual transport
ports by adding an entry point.

Queue policies (RabbitMQ's semantics, for every virtual transport): a
message past its TTL (``expiration`` property, ``x-message-ttl``) is never
delivered: when fetched it is dead-lettered or dropped; ``x-max-length``
(and ``x-max-length-bytes`` where the transport implements
``_queue_bytes``) with ``x-overflow`` ``drop-head`` or ``reject-publish``;
``x-dead-letter-exchange``/``-routing-key`` receive rejected (no requeue),
expired and overflowed messages (:mod:`~kombu.transport.virtual.deadletter`).
A queue's arguments are recorded at declare time in the
:class:`BrokerState`; a transport whose consumers may run in processes that
never declared the queue persists them through ``_store_queue_arguments``
and ``_load_queue_arguments``; likewise an exchange's declaration through
``_store_exchange_record``, ``_load_exchange_record`` and
``_delete_exchange_record``, so that a process that publishes to, binds to
or passively declares an exchange it never declared routes by its type and
a conflicting redeclare is refused. ``x-expires`` is enforced by the engine only
for transports that set ``engine_queue_expiry`` (the broker is in-process,
like memory://); others expire queues natively (redis) or refuse it.
Queues and messages without these arguments pay one dict lookup per message.
"""

from __future__ import annotations

import base64
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import count
from queue import Empty
from typing import Any, NamedTuple

from kombu.exceptions import CapabilityNotSupported, ChannelError, ResourceError
from kombu.transport import base
from kombu.transport.virtual.consuming import ConsumingChannel, DrainingTransport
from kombu.transport.virtual.enforcement import QueuePolicies, ttl_checked_basic_get
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES, ExchangeType, Router
from kombu.transport.virtual.message import Message
from kombu.transport.virtual.policy import PUBLISHED_AT, QueuePolicy
from kombu.transport.virtual.qos import QoS
from kombu.transport.virtual.state import BrokerState, binding_key_t, queue_binding_t
from kombu.utils.scheduling import FairCycle
from kombu.utils.uuid import uuid

__all__ = (
    "Base64",
    "NotEquivalentError",
    "UndeliverableWarning",
    "BrokerState",
    "QoS",
    "Message",
    "AbstractChannel",
    "Channel",
    "Management",
    "Transport",
    "Empty",
    "queue_declare_ok_t",
    "binding_key_t",
    "queue_binding_t",
)

ARRAY_TYPE_H = "H"
#: The fields of an exchange's declaration (``_store_exchange_record``).
_EXCHANGE_FIELDS = ("type", "durable", "auto_delete", "arguments")
#: Key of a learned exchange record: the fields its stored record did not
#: state, taken from the next declare in this process instead of compared.
_UNSTATED = "unstated"

_time = time.time


class _DeliveryTags:
    """Unique delivery tags: a random per-process prefix and a counter.

    A uuid per message costs more than the rest of a publish; this is as
    unique (the prefix is a fresh uuid in every process, forks included).
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = uuid() + "."
        self.counter = count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter)}"


next_delivery_tag = _DeliveryTags()


class queue_declare_ok_t(NamedTuple):
    queue: str
    message_count: int
    consumer_count: int


class Base64:
    """The ``base64`` body encoding."""

    def encode(self, s: bytes | str) -> str:
        if isinstance(s, str):
            s = s.encode("utf-8")
        return base64.b64encode(s).decode("ascii")

    def decode(self, s: bytes | str) -> bytes:
        return base64.b64decode(s)


class NotEquivalentError(ChannelError):
    """An entity was redeclared with different arguments."""


class UndeliverableWarning(UserWarning):
    """A message could not be routed to any queue."""


class AbstractChannel:
    """The storage primitives a virtual transport implements."""

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        """Remove and return the next message of ``queue``; raise ``Empty`` if none."""
        raise NotImplementedError("Virtual channels must implement _get")

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Append ``message`` to ``queue``."""
        raise NotImplementedError("Virtual channels must implement _put")

    def _purge(self, queue: str) -> int:
        """Remove every message of ``queue``; return how many."""
        raise NotImplementedError("Virtual channels must implement _purge")

    def _size(self, queue: str) -> int:
        """Return the number of ready messages in ``queue``."""
        return 0

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Delete ``queue`` (called once per binding with its table entry)."""
        self._purge(queue)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Create ``queue`` if the broker needs it created."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        """Whether ``queue`` exists (used by passive declares)."""
        return True

    def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None:
        """Optional: persist the policy arguments ``queue`` was declared with.

        Called by ``queue_declare`` with the arguments that make a policy
        (TTL, expiry, max length, dead-lettering), so that a process that
        fetches from ``queue`` without having declared it can find them with
        :meth:`_load_queue_arguments`. Default: kept in this process only.
        """

    def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        """Optional: the arguments stored by :meth:`_store_queue_arguments`, or ``None``.

        Called at most once per queue per process, the first time a message
        of a queue this process never declared is fetched or published.
        """
        return None

    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        """Optional: persist the declaration of ``exchange`` for processes that did not declare it.

        Called by every non-passive ``exchange_declare`` that succeeds (a new
        exchange, or one equivalent to the record this process has), after it
        is recorded here; ``record`` holds ``type``, ``durable``,
        ``auto_delete`` and ``arguments``. A transport that writes to a server
        decides how often to write (once per connection, say, so that a
        record deleted by another process is stored again). Another process
        may store the same exchange at the same moment: that must not fail.
        Default: kept in this process only.
        """

    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        """Optional: the declaration kept by :meth:`_store_exchange_record`, or ``None``.

        Called when this process meets an exchange it does not know: an
        ``exchange_declare`` (passive or not), ``typeof`` (a publish, a bind)
        and ``get_table`` where the transport asks for it. The record needs
        ``type``; ``durable``, ``auto_delete`` and ``arguments`` where the
        transport stores them (one it leaves out never makes a redeclare
        conflict, and the next declare in this process fills it in). A found
        record is kept in this process's state, so it is asked at most once
        per exchange that exists; a miss is asked again the next time (a
        transport whose lookup is a round trip may cache misses, as sqs and
        mongodb do with their tables, at the price of learning a new
        exchange that much later). A type
        this channel does not support counts as a miss. A connection error
        propagates.
        """
        return None

    def _delete_exchange_record(self, exchange: str) -> None:
        """Optional: remove what :meth:`_store_exchange_record` kept (and bindings stored with it).

        Called by ``exchange_delete`` whether or not this process knew the
        exchange; an exchange with no record is not an error.
        """

    def _queue_bytes(self, queue: str) -> int:
        """Optional: the total body size of ``queue``'s ready messages (``x-max-length-bytes``)."""
        raise NotImplementedError("this transport cannot measure queue bytes")

    def _poll(self, cycle: Any, callback: Any, timeout: float | None = None) -> Any:
        raise NotImplementedError("Kombu 5's FairCycle polling is replaced by Transport.drain_events")

    def _get_and_deliver(self, queue: str, callback: Callable[[Any, str], Any]) -> None:
        message = self._get(queue)
        callback(message, queue)


VirtualMessage = Message
VirtualQoS = QoS


class Channel(QueuePolicies, ConsumingChannel, AbstractChannel, base.StdChannel):
    """A virtual channel: the AMQP channel API over storage primitives."""

    Message = Message
    QoS = QoS

    #: Whether ``_put_fanout`` broadcasts for fanout exchanges; otherwise each
    #: bound queue gets a copy through ``_put``.
    supports_fanout = False
    #: Encoding used for ``bytes`` bodies (text bodies are stored as they are).
    body_encoding = "base64"
    codecs: dict[str, Any] = {"base64": Base64()}
    #: Whether the storage keeps Python objects, so bytes need no encoding.
    stores_objects = False
    do_restore = True
    deadletter_queue: str | None = None
    exchange_types: dict[str, Any] = dict(STANDARD_EXCHANGE_TYPES)
    from_transport_options: tuple[str, ...] = ("body_encoding", "deadletter_queue")
    min_priority = 0
    max_priority = 9
    default_priority = 0
    #: Whether the engine deletes queues unused for their ``x-expires``
    #: (right for in-process brokers, where every consumer is visible here).
    engine_queue_expiry = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A transport's own ``basic_get`` still never returns a message past its TTL.

        An override of ``basic_get`` (a transport with its own fetch path)
        is wrapped once: a message it returns that is already dead is
        dead-lettered or dropped (acked through the channel) and the next
        one fetched, so every virtual transport gets TTL on ``Queue.get``
        without doing anything.
        """
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("basic_get")
        if own is not None and not getattr(own, "_engine_ttl_checked", False):
            cls.basic_get = ttl_checked_basic_get(own)  # type: ignore[method-assign]

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        self.connection = connection
        self._consumers: set[str] = set()
        self._cycle: FairCycle | None = None
        self._tag_to_queue: dict[str, str] = {}
        self._active_queues: list[str] = []
        #: queue -> callback taking a stored envelope (Kombu 5's contract).
        self._callbacks: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._routers: dict[str, tuple[Any, Router]] = {}
        self._rr = 0
        self._qos: VirtualQoS | None = None
        self.closed = False
        self.no_ack_consumers: set[str] = set()
        self.events: defaultdict[str, set[Any]] = defaultdict(set)
        self.exchange_types = {name: cls(self) for name, cls in self.exchange_types.items()}
        self.channel_id = connection._next_channel_id()
        state = connection.state
        #: queue -> QueuePolicy or None (shared with the BrokerState).
        self._policies: dict[str, Any] = state.queue_policies
        #: queue -> QueuePolicy, only queues with a length limit.
        self._limits: dict[str, Any] = state.queue_limits
        topts = connection.client.transport_options if connection.client is not None else {}
        for opt in self.from_transport_options:
            if opt in topts:
                setattr(self, opt, topts[opt])

    # -- capabilities ---------------------------------------------------------------

    def _require(self, capability: str, what: str) -> None:
        caps = self.connection.capabilities  # None: no declaration, so fail closed
        if caps is None or not getattr(caps, capability, False):
            raise CapabilityNotSupported(f"{type(self.connection).__module__} does not support {what}")

    def _check_queue_arguments(self, arguments: Mapping[str, Any] | None) -> None:
        if not arguments:
            return
        if arguments.get("x-max-priority") is not None:
            self._require("priorities", "message priorities (max_priority)")
        if arguments.get("x-message-ttl") is not None:
            self._require("message_ttl", "message TTL (message_ttl)")
        if arguments.get("x-expires") is not None:
            self._require("queue_expires", "queue expiry (expires)")
        if arguments.get("x-max-length") is not None or arguments.get("x-max-length-bytes") is not None:
            self._require("max_length", "queue length limits (max_length)")
        if arguments.get("x-max-length-bytes") is not None and type(self)._queue_bytes is AbstractChannel._queue_bytes:
            raise CapabilityNotSupported(
                f"{type(self.connection).__module__} does not support x-max-length-bytes (max_length_bytes)"
            )
        if arguments.get("x-dead-letter-exchange") is not None:
            self._require("dead_lettering", "dead-lettering (x-dead-letter-exchange)")

    # -- exchanges ------------------------------------------------------------------

    def exchange_declare(
        self,
        exchange: str | None = None,
        type: str = "direct",
        durable: bool = False,
        auto_delete: bool = False,
        arguments: Mapping[str, Any] | None = None,
        nowait: bool = False,
        passive: bool = False,
    ) -> None:
        """Declare an exchange; raise a channel error on a conflicting redeclare."""
        if type not in self.exchange_types:
            raise CapabilityNotSupported(
                f"exchange type {type!r} is not supported by this transport "
                f"(supported: {', '.join(sorted(self.exchange_types))})"
            )
        if exchange is None:
            return
        with self.state.topology_lock:
            record = self._exchange_record(exchange)
            if passive:
                if record is None:
                    raise ChannelError(f"NOT_FOUND - no exchange {exchange!r} in vhost {self._vhost!r}")
                return
            declared = {
                "type": type,
                "durable": durable,
                "auto_delete": auto_delete,
                "arguments": dict(arguments or {}),
            }
            if record is not None:
                unstated = record.get(_UNSTATED)
                prev = {**record, **{k: declared[k] for k in unstated}} if unstated else record
                if not self.exchange_types[type].equivalent(prev, exchange, type, durable, auto_delete, arguments):
                    raise NotEquivalentError(
                        f"PRECONDITION_FAILED - cannot redeclare exchange {exchange!r} in vhost "
                        f"{self._vhost!r} with different type, durable, or autodelete value"
                    )
                if unstated:
                    record.update(prev)
                    del record[_UNSTATED]
                declared = {k: record[k] for k in _EXCHANGE_FIELDS}
            else:
                self.state.exchanges[exchange] = {**declared, "table": []}
            if exchange:
                self._store_exchange_record(exchange, declared)

    def _exchange_record(self, exchange: str) -> dict[str, Any] | None:
        """This process's record of ``exchange``; one another process stored is learned here.

        ``None`` when neither this process nor :meth:`_load_exchange_record`
        knows it (or it has a type this channel does not support).
        """
        record = self.state.exchanges.get(exchange)
        if record is not None or not exchange:
            return record
        stored = self._load_exchange_record(exchange)
        if stored is None or stored.get("type") not in self.exchange_types:
            return None
        learned = {
            "type": stored["type"],
            "durable": stored.get("durable", True),
            "auto_delete": stored.get("auto_delete", False),
            "arguments": dict(stored.get("arguments") or {}),
            "table": [],
        }
        unstated = tuple(k for k in _EXCHANGE_FIELDS if k not in stored)
        if unstated:
            learned[_UNSTATED] = unstated
        return self.state.exchanges.setdefault(exchange, learned)

    def exchange_delete(self, exchange: str, if_unused: bool = False, nowait: bool = False) -> None:
        """Delete an exchange, its bindings and its stored record (:meth:`_delete_exchange_record`)."""
        with self.state.topology_lock:
            for rkey, _, queue in self.get_table(exchange) if exchange in self.state.exchanges else ():
                self.state.binding_delete(queue, exchange, rkey)
            self.state.exchanges.pop(exchange, None)
            self._routers.pop(exchange, None)
            if exchange:
                self._delete_exchange_record(exchange)

    def exchange_bind(
        self,
        destination: str,
        source: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        raise CapabilityNotSupported("exchange-to-exchange bindings are not supported by virtual transports")

    def exchange_unbind(
        self,
        destination: str,
        source: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        raise CapabilityNotSupported("exchange-to-exchange bindings are not supported by virtual transports")

    def typeof(self, exchange: str, default: str = "direct") -> ExchangeType:
        """Return the exchange type object of ``exchange``.

        A known exchange costs a dict lookup (the publish path); an unknown
        one is looked up once through :meth:`_load_exchange_record`, else it
        is ``default``.
        """
        try:
            type_name = self.state.exchanges[exchange]["type"]
        except KeyError:
            record = self._exchange_record(exchange)
            type_name = default if record is None else record["type"]
        return self.exchange_types[type_name]  # type: ignore[no-any-return]

    def get_exchanges(self) -> list[str]:
        return list(self.state.exchanges)

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        """Return the binding table of ``exchange`` (``KeyError`` if undeclared)."""
        return self.state.exchanges[exchange]["table"]  # type: ignore[no-any-return]

    def _set_table(self, exchange: str, table: list[tuple[str, Any, str]]) -> None:
        self.state.exchanges[exchange]["table"] = table

    # -- queues ---------------------------------------------------------------------

    def queue_declare(self, queue: str | None = None, passive: bool = False, **kwargs: Any) -> queue_declare_ok_t:
        """Declare a queue; with ``passive`` raise a channel error if it is missing."""
        queue = queue or "amq.gen-" + uuid()
        if self.engine_queue_expiry and self.state.expiring:
            self._expire_unused_queues()
        if passive:
            if not self._has_queue(queue, **kwargs):
                raise ChannelError(f"NOT_FOUND - no queue {queue!r} in vhost {self._vhost!r}")
        else:
            arguments = kwargs.get("arguments")
            self._check_queue_arguments(arguments)
            policy = QueuePolicy.from_arguments(arguments)
            self._new_queue(queue, **kwargs)
            self._record_policy(queue, policy, arguments)
        return queue_declare_ok_t(queue, self._size(queue), 0)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False, **kwargs: Any) -> int | None:
        """Delete a queue, its messages and its bindings.

        Returns how many messages it held (AMQP's ``queue.delete-ok``, as
        on amqp://; Kombu 5's virtual transports return ``None``), or
        ``None`` when ``if_empty`` kept a non-empty queue.
        """
        if if_empty and self._size(queue):
            return None
        size = self._size(queue)
        self.state.forget_queue(queue)
        for exchange, routing_key, args in self.state.queue_bindings(queue):
            meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, args)
            self._delete(queue, exchange, *meta, **kwargs)
            self._drop_from_table(exchange, meta)
        else:
            self._delete(queue, **kwargs)
        self.state.queue_bindings_delete(queue)
        return size

    def queue_bind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Bind ``queue`` to ``exchange``; binding twice is a no-op."""
        exchange = exchange or "amq.direct"
        with self.state.topology_lock:
            if self.state.has_binding(queue, exchange, routing_key):
                return
            if self._exchange_record(exchange) is None:
                self.exchange_declare(exchange, "direct")
            self.state.binding_declare(queue, exchange, routing_key, arguments)
            meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
            self._set_table(exchange, [*self.state.exchanges[exchange]["table"], meta])
            if self.supports_fanout:
                self._queue_bind(exchange, *meta)

    def queue_unbind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remove a binding made with :meth:`queue_bind`."""
        exchange = exchange or "amq.direct"
        with self.state.topology_lock:
            if not self.state.has_binding(queue, exchange, routing_key):
                return
            arguments = self.state.bindings.get(binding_key_t(queue, exchange, routing_key), arguments)
            self.state.binding_delete(queue, exchange, routing_key)
            meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
            self._drop_from_table(exchange, meta)
            if self.supports_fanout:
                self._queue_unbind(exchange, *meta)

    def _drop_from_table(self, exchange: str, meta: tuple[str, Any, str]) -> None:
        state = self.state.exchanges.get(exchange)
        if state is not None:
            self._set_table(exchange, [m for m in state["table"] if m != meta])

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Store a binding where every process sees it (transports with ``supports_fanout``)."""

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Remove a binding stored by :meth:`_queue_bind`."""

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        """Broadcast ``message`` to every queue bound to ``exchange``."""
        raise NotImplementedError("Virtual channels with supports_fanout must implement _put_fanout")

    def after_reply_message_received(self, queue: str) -> None:
        """A reply queue (pidbox) has served its reply: delete it."""
        self.queue_delete(queue)

    def list_bindings(self) -> Iterable[tuple[str, str, str]]:
        for exchange in self.state.exchanges:
            for rkey, _, queue in self.get_table(exchange):
                yield queue, exchange, rkey

    def queue_purge(self, queue: str, **kwargs: Any) -> int:
        """Remove every ready message of ``queue``; return how many."""
        return self._purge(queue)

    # -- routing ----------------------------------------------------------------------

    def _lookup(
        self, exchange: str, routing_key: str, default: str | None = None, headers: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Return the queues a message published to ``exchange`` reaches."""
        try:
            table = self.get_table(exchange)
        except KeyError:
            table = []
        cached = self._routers.get(exchange)
        if cached is not None and (cached[0] is table or cached[0] == table):
            router = cached[1]
        else:
            router = self.typeof(exchange).compile(table)
            self._routers[exchange] = (table, router)
        queues = router.lookup(routing_key, headers)
        if not queues:
            default = default or self.deadletter_queue
            if default:
                warnings.warn(
                    UndeliverableWarning(
                        f"Message could not be delivered: No queues bound to exchange {exchange!r} "
                        f"using binding key {routing_key!r}; it goes to {default!r}"
                    ),
                    stacklevel=2,
                )
                self._new_queue(default)
                return [default]
        return queues

    # -- publishing ---------------------------------------------------------------------

    def prepare_message(
        self,
        body: Any,
        priority: int | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build the stored envelope of a message."""
        properties = properties if properties is not None else {}
        properties.setdefault("delivery_info", {})
        properties.setdefault("priority", priority or self.default_priority)
        return {
            "body": body,
            "content-encoding": content_encoding,
            "content-type": content_type,
            "headers": headers or {},
            "properties": properties,
        }

    def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None:
        """Route ``message`` through ``exchange`` (``""``: straight to queue ``routing_key``)."""
        props = message["properties"]
        if props.get("expiration") is not None:
            self._require("message_ttl", "per-message TTL (expiration)")
        if props.get("priority"):
            self._require("priorities", "message priorities (priority)")
        body = message["body"]
        if isinstance(body, bytes) and not self.stores_objects:
            message["body"], props["body_encoding"] = self.encode_body(body, self.body_encoding)
        props["delivery_tag"] = self._next_delivery_tag()
        props[PUBLISHED_AT] = _time()
        delivery_info = props["delivery_info"]
        delivery_info["exchange"] = exchange
        delivery_info["routing_key"] = routing_key
        kwargs.pop("mandatory", None)
        kwargs.pop("immediate", None)
        if exchange:
            self.typeof(exchange).deliver(message, exchange, routing_key, **kwargs)
        elif self._limits:
            self._put_limited(routing_key, message, **kwargs)
        else:
            self._put(routing_key, message, **kwargs)

    def _copy_envelope(self, message: dict[str, Any]) -> dict[str, Any]:
        """A copy of a published envelope with a delivery tag of its own."""
        properties = dict(message["properties"])
        properties["delivery_info"] = dict(properties["delivery_info"])
        properties["delivery_tag"] = self._next_delivery_tag()
        return {**message, "properties": properties}

    def _next_delivery_tag(self) -> Any:
        """A delivery tag unique across processes, for the published envelope."""
        return next_delivery_tag()

    def encode_body(self, body: Any, encoding: str | None = None) -> tuple[Any, str | None]:
        if encoding:
            return self.codecs[encoding].encode(body), encoding
        return body, encoding

    def decode_body(self, body: Any, encoding: str | None = None) -> Any:
        if encoding:
            return self.codecs[encoding].decode(body)
        return body

    def flow(self, active: bool = True) -> None:
        raise CapabilityNotSupported("flow control is not supported by virtual transports")

    def close(self) -> None:
        """Cancel consumers, restore unacknowledged messages and release the channel."""
        if self.closed:
            return
        self.closed = True
        for consumer in list(self._consumers):
            self.basic_cancel(consumer)
        if self._qos is not None:
            self._qos.restore_unacked_once()
        self.connection.close_channel(self)

    @property
    def state(self) -> BrokerState:
        return self.connection.state

    @property
    def _vhost(self) -> str:
        client = self.connection.client
        return (client.virtual_host if client is not None else None) or "/"

    def _get_message_priority(self, message: Mapping[str, Any], reverse: bool = False) -> int:
        """The message's priority clamped to ``min_priority..max_priority``."""
        try:
            priority = max(min(int(message["properties"]["priority"]), self.max_priority), self.min_priority)
        except (TypeError, ValueError, KeyError):
            priority = self.default_priority
        return (self.max_priority - priority) if reverse else priority

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class Management(base.Management):
    """The management API of a virtual broker: it holds a channel until :meth:`close`."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        client = transport.client
        #: The channel the management calls use (Kombu 5: ``client.channel()``).
        self.channel: Any = client.channel() if client is not None else transport.create_channel(transport)

    def get_bindings(self) -> list[dict[str, str]]:
        """Every binding: ``destination`` (queue), ``source`` (exchange), ``routing_key``."""
        return [dict(destination=q, source=e, routing_key=r) for q, e, r in self.channel.list_bindings()]

    def close(self) -> None:
        """Close the management channel."""
        self.channel.close()


VirtualChannel = Channel


class Transport(DrainingTransport, base.Transport):
    """A virtual transport: holds channels and runs their delivery loop.

    ``drain_events`` delivers one message from any consuming channel, round
    robin, waiting with :meth:`_wait_for_messages` between empty rounds.
    """

    Channel: type[Channel] = Channel
    Management = Management
    #: Kombu 5's scheduler class, for :attr:`cycle`.
    Cycle = FairCycle
    #: Kombu 5's :class:`FairCycle` over the open channels (set by the
    #: constructor): ``cycle.get(callback)`` drains one channel, in turn.
    #: :meth:`drain_events` does its own round robin and does not use it.
    cycle: FairCycle | None = None
    #: Seconds to sleep between polls when nothing arrived.
    polling_interval: float | None = 1.0
    channel_max = 65535
    #: Exchanges, bindings and queue policies. As in Kombu 5, each transport
    #: instance (each connection) gets its own unless its class sets
    #: ``state`` (an in-process broker such as memory:// shares one
    #: class-level state between all its connections) or a property; a
    #: transport that talks to a shared broker keeps one per broker itself.
    state = BrokerState()
    capabilities: Any = None
    driver_type = "virtual"
    driver_name = "virtual"
    implements = base.Transport.implements.extend(asynchronous=False, heartbeats=False)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        if type(self).state is Transport.state:
            # Not chosen by the subclass: a topology of this connection only,
            # never one mixed with other brokers' (Kombu 5).
            self.state = BrokerState()
        self.channels: list[VirtualChannel] = []
        self._consuming: list[VirtualChannel] = []
        #: queue -> the consuming channel's callback (Kombu 5's ``_callbacks``).
        self._callbacks: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self._channel_ids = count(1)
        self._rr = 0
        self.cycle = self.Cycle(self._drain_channel, self.channels, Empty)
        topts = client.transport_options if client is not None else {}
        polling_interval = topts.get("polling_interval")
        if polling_interval is not None:
            self.polling_interval = float(polling_interval)

    def _next_channel_id(self) -> int:
        channel_id = next(self._channel_ids)
        if channel_id > self.channel_max:
            raise ResourceError(f"No free channel ids, current={len(self.channels)}, channel_max={self.channel_max}")
        return channel_id

    def create_channel(self, connection: Any) -> VirtualChannel:
        channel = self.Channel(self)
        self.channels.append(channel)
        return channel

    def close_channel(self, channel: VirtualChannel) -> None:
        try:
            self.channels.remove(channel)
        except ValueError:
            pass
        self._on_consumer_change(channel)

    def _on_consumer_change(self, channel: VirtualChannel) -> None:
        self._consuming = [c for c in self.channels if c._active_queues and not c.closed]

    def establish_connection(self) -> Transport:
        return self

    def close_connection(self, connection: Any) -> None:
        for channel in list(self.channels):
            channel.close()

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {"port": self.default_port, "hostname": "localhost"}
