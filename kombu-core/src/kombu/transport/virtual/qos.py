"""Prefetch and acknowledgement bookkeeping of a virtual channel.

The :class:`QoS` records every delivery the application must acknowledge and
tells the channel's storage what became of it, through two hooks a transport
may implement (:class:`kombu.transport.contract.VirtualStorageHooks`):

* ``channel._settle_deliveries(messages, rejected=...)``: the broker-side
  record of these deliveries can go for good: after ``ack`` (``rejected``
  false) and after ``reject``/``nack`` without requeue (``rejected`` true;
  dead-lettering is already done). Also right away for a message fetched by
  a ``no_ack`` consumer or ``basic_get(no_ack=True)``.
* ``channel._release_deliveries(messages, rejected=...)``: these deliveries
  go back to their queues: ``reject``/``nack`` with requeue (``rejected``
  true), and unacknowledged ones at channel close or ``basic_recover``
  (``rejected`` false).

The QoS forgets a delivery before it calls the hook, and calls a hook at most
once per delivery. A transport that defines neither hook behaves as Kombu 5's
virtual transports: nothing to do on ack, and a given-back message is stored
again (``_restore_at_beginning`` for a requeue, ``_restore`` at close).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kombu.transport.virtual.base import Channel
    from kombu.transport.virtual.message import Message

__all__ = ("QoS", "default_hook", "overrides_hook")

logger = logging.getLogger(__name__)


def default_hook(function: Any) -> Any:
    """Mark ``function`` as the engine's default of a storage hook (see :func:`overrides_hook`)."""
    function._kombu_default_hook = True
    return function


def overrides_hook(cls: type, name: str) -> bool:
    """Whether ``cls`` has its own ``name`` hook rather than the engine's default."""
    method = getattr(cls, name, None)
    return method is not None and not getattr(method, "_kombu_default_hook", False)


class QoS:
    """Prefetch limit and the messages delivered but not yet acknowledged.

    ``append`` records a delivery; ``ack`` settles it; ``reject`` settles it
    or, with ``requeue``, releases it; when the channel closes, every
    unacknowledged delivery is released (see the module docstring).
    """

    restore_at_shutdown = True

    def __init__(self, channel: Channel, prefetch_count: int = 0) -> None:
        self.channel = channel
        self.prefetch_count = prefetch_count or 0
        self._delivered: OrderedDict[Any, Message] = OrderedDict()
        self._restored_once = False
        cls = type(channel)
        #: Whether the storage keeps a record that settling removes (else an ack costs no call).
        self._settles = overrides_hook(cls, "_settle_deliveries")
        #: Whether the storage releases in batches (else one ``_restore`` per message at close).
        self._releases = overrides_hook(cls, "_release_deliveries")

    def can_consume(self) -> bool:
        """Whether the prefetch limit allows one more delivery."""
        return not self.prefetch_count or len(self._delivered) < self.prefetch_count

    def can_consume_max_estimate(self) -> int | None:
        """How many more messages may be delivered now (``None``: no limit)."""
        if self.prefetch_count:
            return max(self.prefetch_count - len(self._delivered), 0)
        return None

    def append(self, message: Message, delivery_tag: Any) -> None:
        self._delivered[delivery_tag] = message

    def get(self, delivery_tag: Any) -> Message:
        return self._delivered[delivery_tag]

    def _pop_through(self, delivery_tag: Any) -> list[Message]:
        """Forget every delivery up to and including ``delivery_tag`` (none, if it is unknown).

        An unknown tag (acked already, say) names no place in the order, so
        nothing is settled: settling every delivery would lose the messages
        the application has not acknowledged.
        """
        delivered = self._delivered
        if delivery_tag not in delivered:
            return []
        messages = []
        while delivered:
            tag, message = delivered.popitem(last=False)
            messages.append(message)
            if tag == delivery_tag:
                break
        return messages

    def ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Settle ``delivery_tag`` (and, with ``multiple``, every earlier one)."""
        if multiple:
            messages = self._pop_through(delivery_tag)
            if messages and self._settles:
                self.channel._settle_deliveries(messages, rejected=False)
            return
        message = self._delivered.pop(delivery_tag, None)
        if message is not None and self._settles:
            self.channel._settle_deliveries([message], rejected=False)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Release ``delivery_tag`` with ``requeue``; settle it (it is dropped) without."""
        message = self._delivered.pop(delivery_tag, None)
        if message is None:
            return
        if requeue:
            self.channel._release_deliveries([message], rejected=True)
        elif self._settles:
            self.channel._settle_deliveries([message], rejected=True)

    def restore_unacked(self) -> list[tuple[BaseException, Message]]:
        """Release every unacknowledged delivery; return the errors met as ``(error, message)``.

        A failed batch release reports every message of the batch: the
        storage still holds them, so they come back when their lease ends.
        """
        delivered = self._delivered
        if not self._releases:
            errors = []
            while delivered:
                _, message = delivered.popitem(last=False)
                try:
                    self.channel._restore(message)
                except BaseException as exc:  # noqa: BLE001 - reported to the caller
                    errors.append((exc, message))
            return errors
        messages = list(delivered.values())
        delivered.clear()
        if not messages:
            return []
        try:
            self.channel._release_deliveries(messages, rejected=False)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            return [(exc, message) for message in messages]
        return []

    def restore_unacked_once(self, stderr: Any = None) -> None:
        """Restore unacked messages at shutdown, at most once.

        Each message that could not be given back is reported: printed to
        ``stderr`` when given, else logged as a warning (on a transport that
        leases, it comes back when its lease ends).
        """
        if self._restored_once or not self.restore_at_shutdown or not self.channel.do_restore:
            return
        self._restored_once = True
        for exc, message in self.restore_unacked():
            if stderr is not None:
                print(f"Unable to restore message {message.delivery_tag!r}: {exc!r}", file=stderr)
            else:
                logger.warning("virtual: unacked message %r not given back at close: %r", message.delivery_tag, exc)

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        """Restore messages whose visibility timeout passed (transports that lease)."""
