"""The transport contract, written down as typed protocols.

A transport author implements one of two shapes; the core only ever relies on
what is named here. Everything else in a transport is its own business.

:class:`NativeTransport`
    A broker that routes by itself (AMQP). The core calls these methods, and
    the transport maps them onto its client library one to one.

:class:`VirtualStorage`
    A broker that only stores messages. A subclass of
    :class:`kombu.transport.virtual.Channel` implements these storage
    primitives; the virtual engine provides exchanges, bindings, prefetch,
    acknowledgements, TTL, length limits and dead-lettering on top of them.
    :class:`VirtualStorageHooks` lists the optional hooks with their defaults.

:class:`VirtualWaiting`
    How a virtual transport waits between empty polls (instead of sleeping).

What a transport can do is declared once, in its plugin's
:class:`kombu.hookspecs.Capabilities`; the core derives Kombu 5's
``Transport.implements`` from it (:func:`kombu.transport.base.apply_capabilities`).
The conformance kit (:mod:`kombu.testing`) checks a transport against this
contract and its declared capabilities.

These are :class:`typing.Protocol` classes: a transport does not inherit from
them, a type checker verifies that it matches them, e.g.
``_: type[VirtualStorage] = MyChannel``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ("NativeTransport", "VirtualStorage", "VirtualStorageHooks", "VirtualWaiting")


@runtime_checkable
class NativeTransport(Protocol):
    """What the core calls on every transport (``kombu.transport.base.Transport``).

    Errors: a broken connection raises one of ``connection_errors`` (the core
    reconnects: ``Connection.ensure``, ``autoretry``, ``ConsumerMixin``); a
    refused operation on a healthy connection raises one of ``channel_errors``.
    Passwords never appear in an error's text.
    """

    connection_errors: tuple[type[BaseException], ...]
    channel_errors: tuple[type[BaseException], ...]
    default_port: int | None

    def establish_connection(self) -> Any:
        """Open the broker connection (bounded by ``client.connect_timeout``, handshake included)."""

    def close_connection(self, connection: Any) -> None:
        """Close ``connection``; unacknowledged deliveries go back to their queues."""

    def create_channel(self, connection: Any) -> Any:
        """Return a new channel (a :class:`kombu.transport.base.StdChannel`) on ``connection``."""

    def close_channel(self, channel: Any) -> None:
        """Forget ``channel`` (called by the channel's own ``close()``)."""

    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:
        """Deliver at least one event, or raise ``socket.timeout`` after ``timeout`` seconds."""

    def verify_connection(self, connection: Any) -> bool:
        """Whether ``connection`` still looks usable, without blocking."""

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Let ``loop`` (:class:`kombu.asynchronous.Hub`) drive the connection.

        Only called when the capabilities declare ``async_events``.
        """


@runtime_checkable
class VirtualStorage(Protocol):
    """The storage primitives a virtual channel must implement.

    Queue names arrive as the application wrote them; mapping them to what the
    broker accepts (and back) is the transport's job. A stored message is the
    envelope dict the engine built (``body``, ``content-type``,
    ``content-encoding``, ``headers``, ``properties``); a transport stores it
    so that Kombu 5 reads it back the same where wire compatibility is
    promised.
    """

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        """Take the next message of ``queue`` (a lease or a removal); raise ``queue.Empty`` if none.

        At-least-once transports hand out a lease here and delete the message
        only when the engine settles the delivery
        (:meth:`VirtualStorageHooks._settle_deliveries`); a delete-on-get
        transport loses a killed consumer's unacknowledged messages.
        """

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Store ``message`` at the tail of ``queue``; return only once it is stored (or queued
        for a confirmed write the transport re-sends after a reconnect)."""

    def _purge(self, queue: str) -> int:
        """Remove every ready message of ``queue``; return how many."""

    def _size(self, queue: str) -> int:
        """The number of ready messages in ``queue`` (unacknowledged ones not counted)."""

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Delete ``queue`` and its messages (called once per binding, then once alone)."""

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Create ``queue`` where the broker needs it (idempotent)."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        """Whether ``queue`` exists (a passive declare raises a channel error when not)."""


class VirtualStorageHooks(Protocol):
    """Optional hooks of a virtual channel; :class:`kombu.transport.virtual.Channel` has defaults.

    Settling and releasing: a transport whose ``_get`` hands out a lease
    (keeps the message, hidden, until the application is done with it)
    implements :meth:`_settle_deliveries` and :meth:`_release_deliveries`;
    the engine's :class:`~kombu.transport.virtual.qos.QoS` keeps the
    bookkeeping (prefetch, ``multiple``, dead-lettering, close) and calls
    them. Per delivery, exactly one of them is called, at most once:

    ============================================  ==============================================
    the application / the engine                  hook
    ============================================  ==============================================
    ``ack`` (``multiple`` too)                    ``_settle_deliveries(ms, rejected=False)``
    ``reject``/``nack``, no requeue               ``_settle_deliveries(ms, rejected=True)``,
                                                  after dead-lettering
    ``no_ack`` consumer, ``basic_get(no_ack)``    ``_settle_deliveries(ms, rejected=False)``,
                                                  before the application sees it
    ``reject``/``nack`` with requeue              ``_release_deliveries(ms, rejected=True)``
    channel close, ``basic_recover``              ``_release_deliveries(ms, rejected=False)``,
                                                  every unacked delivery in one call
    consumer cancelled between fetch and          ``_release_deliveries(ms, rejected=False)``
    delivery
    ============================================  ==============================================

    ``ms`` are :class:`kombu.transport.virtual.Message` objects (their
    ``delivery_tag``, ``queue`` and ``_raw`` envelope identify the record; a
    transport usually keeps a ``delivery_tag -> record`` map filled by
    ``_get``). Where a released message goes is the transport's choice and
    its README says it: redis puts a requeued message at the back (Kombu 5)
    and one restored at close first in line; sqs releases a requeue with a
    visibility delay when ``backoff_policy`` says so. A lease that must
    outlive a slow consumer is renewed by
    :class:`~kombu.transport.virtual.lease.LeaseKeeper` through
    :meth:`_renew_leases`. A transport that defines neither hook behaves as
    Kombu 5's virtual transports: ``_get`` removes the message, and giving it
    back stores it again (:meth:`_restore_at_beginning` for a requeue,
    :meth:`_restore` at close).

    Shared topology: a transport whose processes do not share the engine's
    state keeps declarations on the broker for processes that never made
    them: a queue's policy arguments (:meth:`_store_queue_arguments`), an
    exchange's declaration (:meth:`_store_exchange_record`, found again by
    :meth:`_load_exchange_record` when a process meets an exchange it does
    not know, removed by :meth:`_delete_exchange_record`) and bindings
    (``supports_fanout`` with :meth:`_queue_bind` and :meth:`get_table`).
    """

    #: ``True`` when the broker broadcasts fanout itself (``_put_fanout``) and
    #: stores bindings (``_queue_bind``/``_queue_unbind``/``get_table``).
    supports_fanout: bool

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        """Broadcast ``message`` to every queue bound to fanout ``exchange``."""

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Store a binding where every process sees it."""

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        """Remove a binding stored by ``_queue_bind``."""

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        """The bindings of ``exchange`` as ``(routing_key, pattern, queue)``; ``KeyError`` if unknown."""

    def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None:
        """Persist a queue's policy arguments (TTL, limits, dead-lettering) for other processes."""

    def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        """Return what ``_store_queue_arguments`` kept; a connection error propagates."""

    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        """Persist an exchange's declaration (``type``, ``durable``, ``auto_delete``, ``arguments``).

        Called by every successful non-passive ``exchange_declare`` (the
        transport decides how often it writes); a concurrent store of the
        same exchange by another process must not fail.
        """

    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        """The declaration of an exchange this process does not know, or ``None``.

        Needs ``type``; fields left out never make a redeclare conflict. A
        found record is kept by the engine (``typeof`` on a known exchange
        stays a dict lookup); a miss is asked again next time, so a lookup
        that is a round trip caches misses itself. A connection error propagates.
        """

    def _delete_exchange_record(self, exchange: str) -> None:
        """Remove a stored declaration (and bindings stored with it); a missing one is no error."""

    def _queue_bytes(self, queue: str) -> int:
        """The total body size of ``queue``'s ready messages (enables ``x-max-length-bytes``)."""

    def _settle_deliveries(self, messages: Sequence[Any], *, rejected: bool) -> None:
        """Remove these deliveries' broker-side records for good (acked, or rejected and dropped).

        Must not raise for a message already settled or never recorded (a
        ``no_ack`` fetch the transport did not lease). An exception
        propagates to the application's ``ack``/``reject``; the message then
        comes back when its lease ends (a duplicate, never a loss).
        """

    def _release_deliveries(self, messages: Sequence[Any], *, rejected: bool) -> None:
        """Give these deliveries back to their queues, marked ``redelivered`` (the lease ends now).

        ``rejected``: the application asked (requeue); otherwise the engine
        gives them back unasked (close, ``basic_recover``, a cancelled
        consumer). A message with no record here is stored again as a copy
        (the engine's ``Channel._restore`` does that). At close an exception
        is reported for every message of the call, which then comes back
        when its lease ends.
        """

    def _restore(self, message: Any) -> None:
        """Put an unacknowledged message back on its queue (channel close, recover)."""

    def _restore_at_beginning(self, message: Any) -> None:
        """Put a rejected (requeued) message back first in line."""

    def _renew_leases(self, messages: list[Any]) -> None:
        """Extend the leases of ``messages`` (called by :class:`kombu.transport.virtual.lease.LeaseKeeper`)."""


class VirtualWaiting(Protocol):
    """How a virtual transport waits between empty polls (``virtual.Transport``)."""

    def _poll_token(self) -> Any:
        """A marker taken before a poll round, handed to ``_wait_for_messages``."""

    def _wait_for_messages(self, token: Any, timeout: float | None) -> None:
        """Block until messages may have arrived since ``token``, or ``timeout`` seconds."""
