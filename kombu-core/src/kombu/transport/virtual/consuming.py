"""The consuming half of a virtual channel and transport.

:class:`ConsumingChannel` is mixed into
:class:`~kombu.transport.virtual.Channel`: consumers (``basic_consume``,
``basic_cancel``), delivery (``deliver_one``, ``_deliver``), ``basic_get``,
acknowledgements through the channel's :class:`~kombu.transport.virtual.qos.QoS`
and giving messages back (``_restore``, and the storage hooks
``_settle_deliveries``/``_release_deliveries``).
:class:`DrainingTransport` is mixed into
:class:`~kombu.transport.virtual.Transport`: ``drain_events``, a round robin
over the consuming channels that waits between empty rounds.

Guarantees: a delivery to a consumer that acknowledges is recorded in the
QoS before its callback runs, and the storage hears of it (settled or
released) only after the application decided, or when the channel closes.
A message past its TTL is never delivered. ``Transport.drain_events``
delivers one message per call, as Kombu 5's virtual transports do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from queue import Empty
from typing import TYPE_CHECKING, Any, cast

from kombu.exceptions import CapabilityNotSupported
from kombu.transport.virtual.enforcement import DEAD_BUDGET, UNKNOWN
from kombu.transport.virtual.message import Message
from kombu.transport.virtual.qos import QoS, default_hook, overrides_hook
from kombu.utils.scheduling import FairCycle
from kombu.utils.uuid import uuid

if TYPE_CHECKING:
    from kombu.transport.virtual.base import Channel as VirtualChannel
    from kombu.transport.virtual.base import Transport
    from kombu.transport.virtual.state import BrokerState

__all__ = ("ConsumingChannel", "DrainingTransport")

_monotonic = time.monotonic

VirtualMessage = Message
VirtualQoS = QoS


class ConsumingChannel:
    """The consuming half of a virtual channel (see the module docstring)."""

    if TYPE_CHECKING:
        Message: type[VirtualMessage]
        QoS: type[VirtualQoS]
        connection: Transport
        closed: bool
        _consumers: set[str]
        _cycle: FairCycle | None
        _tag_to_queue: dict[str, str]
        _active_queues: list[str]
        _callbacks: dict[str, Callable[[dict[str, Any]], Any]]
        _rr: int
        _qos: VirtualQoS | None
        _policies: dict[str, Any]
        no_ack_consumers: set[str]
        engine_queue_expiry: bool

        @property
        def state(self) -> BrokerState: ...
        def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]: ...
        def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None: ...
        def _get_and_deliver(self, queue: str, callback: Callable[[Any, str], Any]) -> None: ...
        def _lookup(
            self,
            exchange: str,
            routing_key: str,
            default: str | None = None,
            headers: Mapping[str, Any] | None = None,
        ) -> list[str]: ...
        def _dead_on_fetch(self, payload: dict[str, Any], queue: str) -> bool: ...
        def _dead_letter_rejected(self, delivery_tag: Any) -> None: ...
        def _expire_unused_queues(self) -> int: ...
        def _queue_used(self, queue: str) -> None: ...

    def basic_consume(
        self,
        queue: str,
        no_ack: bool = False,
        callback: Callable[[Any], Any] | None = None,
        consumer_tag: str | None = None,
        **kwargs: Any,
    ) -> str:
        """Start delivering messages from ``queue`` to ``callback``."""
        consumer_tag = consumer_tag or "ctag-" + uuid()
        assert callback is not None
        self._tag_to_queue[consumer_tag] = queue
        if queue not in self._active_queues:
            self._active_queues.append(queue)
        if no_ack:
            self.no_ack_consumers.add(consumer_tag)
        settle_at_once = no_ack and overrides_hook(type(self), "_settle_deliveries")

        def _callback(raw_message: dict[str, Any]) -> Any:
            message = self.Message(raw_message, channel=self)
            message.queue = queue
            message.delivery_info["consumer_tag"] = consumer_tag
            if not no_ack:
                self.qos.append(message, message.delivery_tag)
            elif settle_at_once:
                self._settle_deliveries([message], rejected=False)
            return callback(message)

        self._callbacks[queue] = self.connection._callbacks[queue] = _callback
        self._consumers.add(consumer_tag)
        state = self.state
        state.queue_consumers[queue] += 1
        if queue in state.expiring:
            state.queue_used[queue] = _monotonic()
        self.connection._on_consumer_change(cast("VirtualChannel", self))
        return consumer_tag

    def basic_cancel(self, consumer_tag: str) -> None:
        """Stop the consumer ``consumer_tag``."""
        if consumer_tag not in self._consumers:
            return
        self._consumers.discard(consumer_tag)
        self.no_ack_consumers.discard(consumer_tag)
        queue = self._tag_to_queue.pop(consumer_tag, None)
        if queue is not None:
            state = self.state
            left = state.queue_consumers.get(queue, 0) - 1
            if left > 0:
                state.queue_consumers[queue] = left
            else:
                state.queue_consumers.pop(queue, None)
            if queue in state.expiring:
                state.queue_used[queue] = _monotonic()
        if queue is not None and queue not in self._tag_to_queue.values():
            if queue in self._active_queues:
                self._active_queues.remove(queue)
            callback = self._callbacks.pop(queue, None)
            if callback is not None and self.connection._callbacks.get(queue) is callback:
                del self.connection._callbacks[queue]
        self.connection._on_consumer_change(cast("VirtualChannel", self))

    def _deliver(self, payload: dict[str, Any], queue: str) -> None:
        """Hand a fetched envelope to the consumer of ``queue``.

        An envelope past its TTL is not delivered: it is dead-lettered or
        dropped (:meth:`_discard_fetched`).
        """
        self._try_deliver(payload, queue)

    def _try_deliver(self, payload: dict[str, Any], queue: str) -> bool:
        """Like :meth:`_deliver`; ``False`` when the message was dead, not delivered."""
        try:  # inlined fast path of _dead_on_fetch: no policy, no expiration
            check = (
                self._policies.get(queue, UNKNOWN) is not None or payload["properties"].get("expiration") is not None
            )
        except (KeyError, TypeError, AttributeError):
            check = False  # malformed: delivered, its decode raises
        if check and self._dead_on_fetch(payload, queue):
            return False
        callback = self._callbacks.get(queue)
        if callback is None:
            # The consumer was cancelled after the fetch: the message goes back.
            message = self.Message(payload, channel=self)
            message.queue = queue
            if overrides_hook(type(self), "_release_deliveries"):
                self._release_deliveries([message], rejected=False)
            else:
                self._restore_at_beginning(message)
            return True
        callback(payload)
        return True

    def deliver_one(self) -> bool:
        """Fetch and deliver one message from the active queues, round robin.

        Returns whether a message was delivered. Respects the prefetch limit.
        """
        queues = self._active_queues
        if not queues or (self._qos is not None and not self._qos.can_consume()):
            return False
        n = len(queues)
        dead = 0
        i = 0
        while i < n:
            queue = queues[self._rr % n]
            try:
                payload = self._get(queue)
            except Empty:
                self._rr += 1
                i += 1
                continue
            if self._try_deliver(payload, queue):
                self._rr += 1
                return True
            dead += 1  # an expired message: try the same queue again
            if dead >= DEAD_BUDGET:
                return True
            if self._qos is not None and not self._qos.can_consume():
                return True
        return False

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> VirtualMessage | None:
        """Fetch one message from ``queue``; ``None`` when it is empty.

        Messages past their TTL are discarded on the way, never returned.
        """
        if self.engine_queue_expiry and self.state.expiring:
            self._expire_unused_queues()
            self._queue_used(queue)
        while True:
            try:
                payload = self._get(queue)
            except Empty:
                return None
            if not self._dead_on_fetch(payload, queue):
                break
        message = self.Message(payload, channel=self)
        message.queue = queue
        if not no_ack:
            self.qos.append(message, message.delivery_tag)
        elif overrides_hook(type(self), "_settle_deliveries"):
            self._settle_deliveries([message], rejected=False)
        return message

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        self.qos.ack(delivery_tag, multiple=multiple)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Reject a delivery: requeue it, or drop it (to the dead-letter exchange, if any)."""
        if not requeue:
            self._dead_letter_rejected(delivery_tag)
        self.qos.reject(delivery_tag, requeue=requeue)

    def basic_nack(self, delivery_tag: Any, multiple: bool = False, requeue: bool = True) -> None:
        """Reject ``delivery_tag`` (with ``multiple``, every unacked delivery up to it).

        An unknown ``delivery_tag`` rejects nothing, with or without ``multiple``.
        """
        tags = [delivery_tag]
        if multiple and self._qos is not None and delivery_tag in self._qos._delivered:
            tags = []
            for tag in list(self._qos._delivered):
                tags.append(tag)
                if tag == delivery_tag:
                    break
        for tag in tags:
            if not requeue:
                self._dead_letter_rejected(tag)
            self.qos.reject(tag, requeue=requeue)

    def basic_recover(self, requeue: bool = False) -> None:
        """Redeliver every unacknowledged message (only ``requeue=True`` is supported)."""
        if not requeue:
            raise CapabilityNotSupported("basic_recover(requeue=False) is not supported by virtual transports")
        self.qos.restore_unacked()

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, apply_global: bool = False) -> None:
        """Limit unacknowledged deliveries to ``prefetch_count`` (0: no limit)."""
        self.qos.prefetch_count = prefetch_count

    def message_to_python(self, raw_message: Any) -> VirtualMessage:
        if isinstance(raw_message, self.Message):
            return raw_message
        return self.Message(raw_message, channel=self)

    def _restore(self, message: VirtualMessage) -> None:
        """Put an unacknowledged message back on the queue it came from.

        A message whose queue is unknown is routed again by its exchange and
        routing key.
        """
        delivery_info = message.delivery_info
        payload = message.serializable()
        payload["redelivered"] = True
        if message.queue:
            queues = [message.queue]
        else:
            queues = self._lookup(
                delivery_info["exchange"], delivery_info["routing_key"], headers=payload.get("headers")
            )
        for queue in queues:
            self._put(queue, payload)

    def _restore_at_beginning(self, message: VirtualMessage) -> None:
        """Put a rejected message back first in line (default: like :meth:`_restore`)."""
        self._restore(message)

    # -- the storage hooks (kombu.transport.contract.VirtualStorageHooks) -----------------

    @default_hook
    def _settle_deliveries(self, messages: Sequence[VirtualMessage], *, rejected: bool) -> None:
        """Remove the broker-side record of these deliveries for good.

        Called after ``ack`` (``rejected=False``), after ``reject``/``nack``
        without requeue once the message is dead-lettered (``rejected=True``),
        and at once for a message taken by a ``no_ack`` consumer or
        ``basic_get(no_ack=True)`` (``rejected=False``; a message the transport
        fetched without keeping a record is then simply not found). Each
        delivery is settled or released at most once. A transport whose
        ``_get`` leases (keeps the message until it is acknowledged) deletes it
        here; ``_get`` that removes the message needs nothing (the default).
        """

    @default_hook
    def _release_deliveries(self, messages: Sequence[VirtualMessage], *, rejected: bool) -> None:
        """Give these deliveries back to their queues (their lease ends now).

        ``rejected=True``: the application rejected them with ``requeue``.
        ``rejected=False``: the channel gives them back unasked: it closes,
        ``basic_recover`` was called, or the consumer was cancelled between
        fetch and delivery. Where each goes (first in line or last) is the
        transport's choice; the message must come back with ``redelivered``
        set. A message the transport holds no record of (fetched for a
        ``no_ack`` consumer) is stored again as a copy, as this default does:
        :meth:`_restore_at_beginning` for a rejection, :meth:`_restore`
        otherwise (when a transport defines this hook, the engine hands it
        every message given back, in one call at close).
        """
        restore = self._restore_at_beginning if rejected else self._restore
        for message in messages:
            restore(message)

    def drain_events(self, timeout: float | None = None, callback: Any = None) -> None:
        """Deliver one message of this channel (``Empty`` if there is none)."""
        if not self.deliver_one():
            raise Empty()

    @property
    def cycle(self) -> FairCycle:
        """Kombu 5's :class:`~kombu.utils.scheduling.FairCycle` over the consumed queues.

        ``cycle.get(callback)`` fetches one message from the next consumed
        queue that has one and calls ``callback(message, queue)`` with the
        stored envelope; ``Empty`` when none has. The engine's own delivery
        (:meth:`deliver_one`) does not go through it: it is here for code
        written against Kombu 5's virtual channels.
        """
        if self._cycle is None:
            self._cycle = FairCycle(self._get_and_deliver, self._active_queues, Empty)
        return self._cycle

    @property
    def qos(self) -> VirtualQoS:
        if self._qos is None:
            self._qos = self.QoS(cast("VirtualChannel", self))
        return self._qos


class DrainingTransport:
    """The delivery loop of a virtual transport (see the module docstring)."""

    if TYPE_CHECKING:
        Channel: type[VirtualChannel]
        state: BrokerState
        channels: list[VirtualChannel]
        _consuming: list[VirtualChannel]
        _callbacks: dict[str, Callable[[dict[str, Any]], Any]]
        _rr: int
        polling_interval: float | None

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message to its consumer; raise ``socket.timeout`` if none came in time.

        One message per call, as on Kombu 5's virtual transports: Kombu's
        counted loops (``Consumer.consume(limit=N)``, ``ConsumerMixin``'s
        ``limit``, ``itermessages(limit=N)``, compat ``iterconsume``) count
        drains, and a drain must not hand over messages they will not look at.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        expiry = self.Channel.engine_queue_expiry
        while True:
            if expiry and self.state.expiring and self.channels:
                self.channels[0]._expire_unused_queues()
            token = self._poll_token()
            if self._deliver_ready_round():
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()  # socket.timeout
            self._wait_for_messages(token, remaining)

    def _deliver_ready_round(self) -> bool:
        """Deliver one message from the next consuming channel that has one; whether it did."""
        consuming = self._consuming
        n = len(consuming)
        for i in range(n):
            channel = consuming[(self._rr + i) % n]
            if channel.deliver_one():
                self._rr = (self._rr + i + 1) % n
                return True
        return False

    def _deliver(self, message: dict[str, Any], queue: str) -> None:
        """Kombu 5's delivery entry point: hand envelope ``message`` from ``queue`` to its consumer.

        With no consumer for ``queue`` the message is rejected back to it.
        """
        try:
            callback = self._callbacks[queue]
        except KeyError:
            self._reject_inbound_message(message, queue)
        else:
            callback(message)

    def on_message_ready(self, channel: VirtualChannel, message: dict[str, Any], queue: str) -> None:
        """Hand envelope ``message`` from ``queue`` to its consumer's callback.

        Kombu 5's entry point for transports that receive messages
        asynchronously. Raises ``KeyError`` when nothing consumes ``queue``
        (the message is left to the caller, not dropped).
        """
        try:
            callback = self._callbacks[queue] if queue else None
        except KeyError:
            callback = None
        if callback is None:
            raise KeyError(f"Message for queue {queue!r} without consumers")
        callback(message)

    def _drain_channel(self, channel: VirtualChannel, callback: Any, timeout: float | None = None) -> None:
        """Drain one message from ``channel`` (the unit of :attr:`cycle`)."""
        channel.drain_events(callback=callback, timeout=timeout)

    def _reject_inbound_message(self, raw_message: dict[str, Any], queue: str | None = None) -> None:
        for channel in self.channels:
            message = channel.Message(raw_message, channel=channel)
            message.queue = queue
            channel._restore_at_beginning(message)
            return

    def _poll_token(self) -> Any:
        """A marker taken before a poll round, handed to :meth:`_wait_for_messages`."""
        return None

    def _wait_for_messages(self, token: Any, timeout: float | None) -> None:
        """Block until messages may have arrived since ``token`` (or ``timeout``)."""
        interval = self.polling_interval or 0.0
        time.sleep(interval if timeout is None else min(interval, timeout))
