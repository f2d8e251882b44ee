"""The window of publishes RabbitMQ has not confirmed yet (``amqp://``, at-least-once).

A channel in the default windowed mode turns on publisher confirms and
keeps every publish it wrote, in order, until RabbitMQ confirms it (acks
may confirm many at once with ``multiple``, and may come out of order).
Confirms are read asynchronously: only when the window is full (in
messages or in bytes) does ``publish`` wait, for it to drain to half. When the connection is lost, the
transport takes what is still in the windows and sends it again on the
next connection (:meth:`kombu_transport_amqp.pyamqp.Transport.take_unconfirmed`),
so a publish that returned is on the broker or re-sent: at least once, a
duplicate possible after a fault, never a loss.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ("ConfirmWindow", "Unconfirmed")

#: What is kept per publish to send it again:
#: ``(message, exchange, routing_key, mandatory, immediate)``.
Unconfirmed = tuple[Any, str, str, bool, bool]


class ConfirmWindow:
    """Unconfirmed publishes of one channel, by delivery tag (1, 2, ... in publish order)."""

    __slots__ = ("entries", "seq", "early", "nacked", "size")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int, Unconfirmed]] = deque()
        self.seq = 0
        self.early: set[int] = set()
        self.nacked = 0
        #: Bytes of the unconfirmed publishes' frames.
        self.size = 0

    def __len__(self) -> int:
        return len(self.entries)

    def sent(self, entry: Unconfirmed, size: int) -> None:
        """Record a publish of ``size`` bytes just written (its delivery tag is the next number)."""
        self.seq += 1
        self.size += size
        self.entries.append((self.seq, size, entry))

    def confirm(self, tag: int, multiple: bool, nack: bool = False) -> int:
        """Forget what ``tag`` (with ``multiple``: and every tag before it) confirms.

        Returns how many entries left the window; a ``nack`` counts them in
        :attr:`nacked` (the broker refused them).
        """
        entries = self.entries
        removed = freed = 0
        if multiple:
            while entries and entries[0][0] <= tag:
                freed += entries.popleft()[1]
                removed += 1
        elif entries and entries[0][0] == tag:
            freed = entries.popleft()[1]
            removed = 1
        elif entries and tag > entries[0][0]:
            self.early.add(tag)  # confirmed before older ones: removed when they are
        early = self.early
        while early and entries and entries[0][0] in early:
            seq, size, _ = entries.popleft()
            early.discard(seq)
            freed += size
            removed += 1
        self.size -= freed
        if nack:
            self.nacked += removed
        return removed

    def take(self) -> list[Unconfirmed]:
        """Everything still unconfirmed, oldest first; the window is emptied."""
        taken = [entry for _, _, entry in self.entries]
        self.entries.clear()
        self.early.clear()
        self.size = 0
        return taken

    def reset(self) -> None:
        """The channel was reopened: delivery tags start again at 1."""
        self.entries.clear()
        self.early.clear()
        self.seq = 0
        self.size = 0
