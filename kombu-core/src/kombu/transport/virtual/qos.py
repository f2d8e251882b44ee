"""Prefetch and acknowledgement bookkeeping of a virtual channel."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kombu.transport.virtual.base import Channel
    from kombu.transport.virtual.message import Message

__all__ = ("QoS",)


class QoS:
    """Prefetch limit and the messages delivered but not yet acknowledged.

    ``append`` records a delivery; ``ack`` forgets it; ``reject`` forgets it
    and, with ``requeue``, puts it back at the head of its queue; when the
    channel closes, every unacknowledged message is restored.
    """

    restore_at_shutdown = True

    def __init__(self, channel: Channel, prefetch_count: int = 0) -> None:
        self.channel = channel
        self.prefetch_count = prefetch_count or 0
        self._delivered: OrderedDict[Any, Message] = OrderedDict()
        self._restored_once = False

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

    def ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Forget ``delivery_tag`` (and, with ``multiple``, every earlier one)."""
        if multiple:
            for tag in list(self._delivered):
                self._delivered.pop(tag)
                if tag == delivery_tag:
                    break
        else:
            self._delivered.pop(delivery_tag, None)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Forget ``delivery_tag``; with ``requeue`` put the message back first in line."""
        message = self._delivered.pop(delivery_tag, None)
        if requeue and message is not None:
            self.channel._restore_at_beginning(message)

    def restore_unacked(self) -> list[tuple[BaseException, Message]]:
        """Restore every unacknowledged message; return the errors met."""
        errors = []
        while self._delivered:
            _, message = self._delivered.popitem(last=False)
            try:
                self.channel._restore(message)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                errors.append((exc, message))
        return errors

    def restore_unacked_once(self, stderr: Any = None) -> None:
        """Restore unacked messages at shutdown, at most once."""
        if self._restored_once or not self.restore_at_shutdown or not self.channel.do_restore:
            return
        self._restored_once = True
        for exc, message in self.restore_unacked():
            if stderr is not None:
                print(f"Unable to restore message {message.delivery_tag!r}: {exc!r}", file=stderr)

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        """Restore messages whose visibility timeout passed (transports that lease)."""
