"""Queue expiry (``x-expires``) on SQS, which deletes no unused queue by itself.

A queue declared with ``expires`` carries its arguments in its ``kombu-arguments``
tag and the time it was last used in its ``kombu-used`` tag (epoch seconds).
Consumers of the queue rewrite ``kombu-used`` every third of its expiry (and cap
their long polls to that, so a waiting consumer keeps it fresh); declaring a queue
counts as using it. A process deletes an expiring queue it knows of (declared or
consumed here) once ``kombu-used`` is older than its expiry and nobody in this
process consumes it; it looks when a queue is declared (passively too), at most
every ``SWEEP_INTERVAL`` seconds.

Not covered: a queue whose every user died (e.g. a crashed Celery worker's pidbox
queue) is deleted only by another process that knows it; Kombu 5.7 deletes none.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .channel import Channel
    from .transport import Transport

__all__ = ("QueueExpiry", "USED_TAG")

logger = logging.getLogger(__name__)

USED_TAG = "kombu-used"
#: Seconds between two looks for expired queues in one process.
SWEEP_INTERVAL = 0.25


class QueueExpiry:
    """The expiring queues of one connection: keeping them fresh, deleting unused ones."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._touched: dict[str, float] = {}
        self._last_sweep = 0.0
        self._lock = threading.Lock()

    def _expiring(self) -> dict[str, int]:
        return self.transport.state.expiring

    def used_tags(self, queue: str) -> dict[str, str]:
        """The tag marking ``queue`` used now (and remember when)."""
        with self._lock:
            self._touched[queue] = time.monotonic()
        return {USED_TAG: repr(time.time())}

    def _consumed_here(self) -> set[str]:
        return {q for ch in self.transport._consumers() for q in ch._active_queues}

    def refresh_consumed(self) -> None:
        """Mark the expiring queues consumed here as used (each at most every expiry/3)."""
        expiring = self._expiring()
        if not expiring:
            return
        now = time.monotonic()
        for queue in self._consumed_here():
            expires = expiring.get(queue)
            if expires is None or now - self._touched.get(queue, 0.0) < expires / 3000.0:
                continue
            try:
                url = self.transport.queue_url(queue, create=False)
                self.transport.clients.client("sqs").tag_queue(QueueUrl=url, Tags=self.used_tags(queue))
            except Exception as exc:  # noqa: BLE001 - retried on the next refresh
                logger.warning("sqs: could not mark expiring queue %r as used: %r", queue, exc)

    def poll_cap(self) -> int | None:
        """The longest long poll that keeps every consumed expiring queue fresh (s)."""
        expiring = self._expiring()
        if not expiring:
            return None
        spans = [expiring[q] for q in self._consumed_here() if q in expiring]
        return max(1, int(min(spans) / 3000)) if spans else None

    def sweep(self, channel: Channel) -> int:
        """Delete the expiring queues known here that nobody used for their expiry; how many."""
        expiring = self._expiring()
        now = time.monotonic()
        if not expiring or now - self._last_sweep < SWEEP_INTERVAL:
            return 0
        self._last_sweep = now
        if self.transport.settings.predefined_queues:
            return 0  # never deleted
        consumed = self._consumed_here()
        client = self.transport.clients.client("sqs")
        deleted = 0
        for queue, expires in list(expiring.items()):
            if queue in consumed:
                continue
            try:
                url = self.transport.queue_url(queue, create=False)
                tags = client.list_queue_tags(QueueUrl=url).get("Tags") or {}
            except Exception as exc:  # noqa: BLE001 - the queue may be gone already
                logger.debug("sqs: expiry of %r not checked: %r", queue, exc)
                continue
            try:
                used = float(tags.get(USED_TAG, "0"))
            except ValueError:
                used = 0.0
            if time.time() - used >= expires / 1000.0:
                logger.debug("sqs: queue %r expired (unused for its x-expires)", queue)
                channel.queue_delete(queue)
                with self._lock:
                    self._touched.pop(queue, None)
                deleted += 1
        return deleted
