"""Receiving: ``ReceiveMessage`` into a channel's buffer, and delivery from it.

SQS hands out up to 10 messages per call, so a consumer receives a batch
(as much as its prefetch window allows) into its channel's buffer and the
engine delivers from there; the blocking ``drain_events``
(:mod:`.transport`) and the event-loop poller (:mod:`.eventloop`) both
fetch and deliver through these methods. Guarantees:

* every received message is *held* by the channel (its receipt handle
  kept, its lease renewed) from the moment it is received until it is
  acked, rejected or given back;
* a received message is never left waiting in the buffer of a consumer
  that is gone: a fetch whose consumer was cancelled during its long poll,
  a cancelled consumer's buffered messages, and a closed channel's give
  them back at once (visible again, not after the visibility timeout);
* the buffer never holds more than the prefetch window left.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kombu.transport import virtual

from . import envelope

if TYPE_CHECKING:
    import threading

    from .settings import Settings
    from .transport import Transport

__all__ = ("ReceivingChannel", "SQS_MAX_MESSAGES")

#: ReceiveMessage and the batch calls take at most 10 entries.
SQS_MAX_MESSAGES = 10


class ReceivingChannel(virtual.Channel):
    """The receiving half of the SQS channel (:class:`.channel.Channel` is built on it)."""

    if TYPE_CHECKING:
        connection: Transport
        settings: Settings
        _held: dict[str, tuple[str, str]]
        _lock: threading.RLock

        def sqs(self, queue: str | None = None) -> Any: ...
        def _url(self, queue: str, create: bool = True) -> str: ...
        def _ensure_lease(self) -> None: ...
        def _defer_if_early(self, queue: str, url: str, payload: dict[str, Any]) -> bool: ...
        def _release(self, tags: Iterable[Any], visibility: int = 0) -> int: ...

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        #: received, not yet delivered: (queue, envelope).
        self._buffer: deque[tuple[str, dict[str, Any]]] = deque()

    def _receive(self, queue: str, count: int, wait: int) -> list[dict[str, Any]]:
        """ReceiveMessage up to ``count`` (<= 10) envelopes from ``queue``; they are held."""
        url = self._url(queue)
        resp = self.sqs(queue).receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(count, SQS_MAX_MESSAGES)),
            WaitTimeSeconds=wait,
            **self.connection.attribute_request,
        )
        records = resp.get("Messages")
        if not records:
            return []
        out = []
        with self._lock:
            for record in records:
                payload = envelope.received_payload(record, url)
                self._held[record["ReceiptHandle"]] = (queue, url)
                out.append(payload)
        if self.settings.visibility_timeout:
            self._ensure_lease()
        return [p for p in out if not self._defer_if_early(queue, url, p)]

    def window(self) -> int:
        """How many more messages may be received now (bounded by prefetch and 10)."""
        est = self.qos.can_consume_max_estimate()
        if est is None:
            return SQS_MAX_MESSAGES
        return max(min(est - len(self._buffer), SQS_MAX_MESSAGES), 0)

    def fetch(self, queue: str, wait: int = 0) -> int:
        """Receive what the prefetch window allows from ``queue`` into the buffer; how many."""
        count = self.window()
        if not count:
            return 0
        got = self._receive(queue, count, wait)
        if got:
            if queue in self._active_queues:
                self._buffer.extend((queue, p) for p in got)
            else:  # cancelled while the long poll ran (Kombu #1819)
                self._release([p["properties"]["delivery_tag"] for p in got])
        return len(got)

    def deliver_buffered(self) -> int:
        """Deliver buffered messages while the prefetch window allows; how many."""
        n = 0
        buf = self._buffer
        qos = self.qos
        while buf and qos.can_consume():
            queue, payload = buf.popleft()
            if queue not in self._callbacks:
                self._release([payload["properties"]["delivery_tag"]])
                continue
            # The engine drops (or dead-letters) a message past its TTL instead, and
            # settles a no_ack consumer's message before its callback runs.
            if self._try_deliver(payload, queue):
                n += 1
        return n

    def give_back_buffer(self, queue: str | None = None) -> int:
        """Release buffered (received, undelivered) messages of ``queue`` (all if None)."""
        keep: deque[tuple[str, dict[str, Any]]] = deque()
        back = []
        for entry in self._buffer:
            if queue is None or entry[0] == queue:
                back.append(entry[1]["properties"]["delivery_tag"])
            else:
                keep.append(entry)
        self._buffer = keep
        return self._release(back) if back else 0

    def basic_cancel(self, consumer_tag: str) -> None:
        """Cancel a consumer; what it left in the buffer is given back at once."""
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self.give_back_buffer(queue)
