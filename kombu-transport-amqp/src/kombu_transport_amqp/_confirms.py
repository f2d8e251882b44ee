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

A publish RabbitMQ refuses (a nack: a ``reject-publish`` queue at its
``x-max-length``, an internal error) is not re-sent: the channel raises
:class:`PublishNacked` naming it from its next publish or confirm wait.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ("ConfirmWindow", "PublishNacked", "Refused", "Unconfirmed", "wait_for_all")

#: What is kept per publish to send it again:
#: ``(message, exchange, routing_key, mandatory, immediate)``.
Unconfirmed = tuple[Any, str, str, bool, bool]

#: A publish the broker refused: ``(delivery tag, exchange, routing key, message)``.
Refused = tuple[int, str, str, Any]


class PublishNacked(Exception):
    """RabbitMQ refused publishes (``Basic.Nack``): which ones, and where they went.

    Mixed into each client's own nack error, so ``except
    amqp.exceptions.MessageNacked`` / ``except pika.exceptions.NackError``
    still catch it, and ``except PublishNacked`` catches either.

    Attributes: :attr:`refused` (``(delivery tag, exchange, routing key,
    message)`` of each refused publish, oldest first; the delivery tag is the
    publish's sequence number on its channel since confirms were turned on),
    :attr:`later` (``True`` when the publish had already returned: the
    default confirm window reads confirms asynchronously, so the nack is
    raised by a later publish or confirm wait of the same channel), and the
    first refused publish's :attr:`delivery_tag`, :attr:`exchange` and
    :attr:`routing_key`; :attr:`count` is how many were refused.
    """

    def __init__(self, refused: Iterable[Refused], later: bool = False, *client_args: Any) -> None:
        self.refused: tuple[Refused, ...] = tuple(refused)
        self.later = later
        super().__init__(*(client_args or (self.describe(),)))

    @property
    def count(self) -> int:
        return len(self.refused)

    @property
    def delivery_tag(self) -> int | None:
        return self.refused[0][0] if self.refused else None

    @property
    def exchange(self) -> str | None:
        return self.refused[0][1] if self.refused else None

    @property
    def routing_key(self) -> str | None:
        return self.refused[0][2] if self.refused else None

    def describe(self) -> str:
        """What was refused, in words (also ``str(error)``)."""
        if not self.refused:
            return "RabbitMQ refused a publish (nack)"
        tag, exchange, routing_key, _ = self.refused[0]
        text = (
            f"RabbitMQ refused {self.count} publish{'es' if self.count > 1 else ''} (nack): "
            f"delivery tag {tag}, exchange {exchange!r}, routing key {routing_key!r}"
        )
        if self.count > 1:
            last_tag, last_exchange, last_key, _ = self.refused[-1]
            text += f" ... delivery tag {last_tag}, exchange {last_exchange!r}, routing key {last_key!r}"
        if self.later:
            text += " (confirmed asynchronously: raised by a later call on the same channel)"
        return text

    def __str__(self) -> str:
        return self.describe()


class ConfirmWindow:
    """Unconfirmed publishes of one channel, by delivery tag (1, 2, ... in publish order)."""

    __slots__ = ("entries", "seq", "early", "nacked", "size", "refused")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int, Unconfirmed]] = deque()
        self.seq = 0
        self.early: set[int] = set()
        self.nacked = 0
        #: Bytes of the unconfirmed publishes' frames.
        self.size = 0
        #: Publishes nacked and not yet reported (see :meth:`take_refused`).
        self.refused: list[Refused] = []

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

    def refuse(self, tag: int, multiple: bool) -> list[Refused]:
        """Apply a nack of ``tag``; return the publishes it refused, oldest first.

        With ``multiple`` these are every unconfirmed publish up to ``tag``
        (not those already acked out of order); without, the one of ``tag``
        if it is still unconfirmed. They are added to :attr:`refused` too.
        """
        entries = self.entries
        refused: list[Refused] = []
        if entries:
            first = entries[0][0]
            if multiple:
                early = self.early
                for seq, _, entry in islice(entries, 0, max(tag - first + 1, 0)):
                    if seq not in early:
                        refused.append((seq, entry[1], entry[2], entry[0]))
            elif 0 <= tag - first < len(entries):
                seq, _, entry = entries[tag - first]  # tags are consecutive in the window
                refused.append((seq, entry[1], entry[2], entry[0]))
        self.confirm(tag, multiple)
        self.nacked += len(refused)
        self.refused += refused
        return refused

    def take_refused(self) -> list[Refused]:
        """The refused publishes not yet reported, oldest first (the list empties)."""
        refused, self.refused = self.refused, []
        return refused

    def take(self) -> list[Unconfirmed]:
        """Everything still unconfirmed, oldest first; the window is emptied."""
        taken = [entry for _, _, entry in self.entries]
        self.entries.clear()
        self.early.clear()
        self.size = 0
        return taken

    def reset(self) -> None:
        """The channel was reopened: delivery tags start again at 1 (refusals not reported yet are kept)."""
        self.entries.clear()
        self.early.clear()
        self.seq = 0
        self.size = 0


def wait_for_all(channels: Iterable[Any], timeout: float | None) -> None:
    """Wait for every channel's confirms (``channel.wait_for_confirms(0, timeout)``).

    A refusal does not stop the waiting for the other channels: afterwards one
    :class:`PublishNacked` (of the channels' class) names every refused publish.
    """
    refused: list[Refused] = []
    error: PublishNacked | None = None
    for channel in channels:
        try:
            channel.wait_for_confirms(0, timeout)
        except PublishNacked as exc:
            refused += exc.refused
            error = exc
    if error is not None:
        raise type(error)(refused, True)


def close_waiting(connection: Any, what: str) -> None:
    """Wait for the confirms of ``connection`` before closing it (bounded by its ``confirm_timeout``).

    A refusal is logged, since nothing can raise it any more; any other
    error means the connection broke, and what it left unconfirmed is
    carried to the next connection by the caller.
    """
    try:
        connection.wait_for_confirms(connection.confirm_timeout)
    except PublishNacked as exc:
        logger.warning("%s closed: %s", what, exc)
    except Exception:  # noqa: BLE001 - broken: what is left is carried
        pass
