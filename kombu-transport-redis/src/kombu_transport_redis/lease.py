"""Keeping a live consumer's unacknowledged deliveries from being restored.

Kombu 5 records each delivery in the ``unacked_index`` sorted set with the
delivery time as score, and any consumer restores the entries older than
``visibility_timeout`` to their queues, whether the consumer holding them is
dead or merely slow. An ETA task or a long task held past the timeout is
then delivered twice (Kombu issue #337).

:class:`LeaseKeeper` fixes this from the consumer side without changing the
layout: a daemon thread of the consuming process rewrites the scores of the
deliveries that process still holds (``ZADD unacked_index XX <now> tag ...``)
every ``interval`` seconds, ``interval`` being a fraction of
``visibility_timeout``. The scores are then the time of the last renewal,
not of the delivery, so every restorer -- ours or a Kombu 5 process using
the same ``visibility_timeout`` or a longer one -- only ever restores the
deliveries of a consumer that stopped renewing, i.e. died (SIGKILL, crash,
network partition longer than the timeout).

It runs in a thread with its own Redis connection so that it keeps renewing
while the application is busy inside a long callback and never calls
``drain_events``. ``XX`` means only existing entries are touched, so a
delivery acked meanwhile is never brought back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ("LeaseKeeper",)

logger = logging.getLogger(__name__)

#: Tags per ZADD command.
_CHUNK = 500


class LeaseKeeper:
    """Renew the ``unacked_index`` scores of the deliveries a process holds.

    Args:
        make_client: returns a fresh ``redis.Redis`` client (own connection).
        index_key: the (prefixed) ``unacked_index`` key.
        held: returns the delivery tags currently held; called from the
            keeper thread, so it must only take a snapshot (e.g. ``tuple(d)``
            of a dict, which is atomic under the GIL).
        interval: seconds between renewals.
        alive: returns whether the consumer's own connection still looks
            alive; when it does not, renewing stops for good.

    A lease is tied to the connection that took the deliveries: when that
    connection dies (or the keeper's own connection fails), the keeper stops
    and never reconnects, so deliveries of a dead connection expire and are
    restored even though the process lives on.
    """

    def __init__(self, make_client: Callable[[], Any], index_key: str,
                 held: Callable[[], Iterable[str]], interval: float,
                 alive: Callable[[], bool] | None = None) -> None:
        self.make_client = make_client
        self.alive = alive
        self.index_key = index_key
        self.held = held
        self.interval = max(0.05, float(interval))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self.renewals = 0

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kombu-redis-lease", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close its connection."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - shutting down
                pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def renew_now(self) -> int:
        """Renew every held delivery once; return how many tags were sent."""
        tags = list(self.held())
        if not tags:
            return 0
        if self._client is None:
            self._client = self.make_client()
        now = time.time()
        pipe = self._client.pipeline(transaction=False)
        for i in range(0, len(tags), _CHUNK):
            chunk = tags[i:i + _CHUNK]
            pipe.zadd(self.index_key, dict.fromkeys(chunk, now), xx=True)
        pipe.execute()
        self.renewals += 1
        return len(tags)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.alive is not None and not self.alive():
                    logger.info("redis: consumer connection lost; lease renewal stopped")
                    break
                self.renew_now()
            except Exception as exc:  # noqa: BLE001 - the connection is gone
                logger.info("redis: lease renewal failed, stopped: %r", exc)
                break
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
