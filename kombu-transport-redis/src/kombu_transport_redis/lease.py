"""Keeping a live consumer's unacknowledged deliveries from being restored.

Kombu 5 records each delivery in the ``unacked_index`` sorted set with the
delivery time as score, and any consumer restores the entries older than
``visibility_timeout`` to their queues, whether the consumer holding them is
dead or merely slow. An ETA task or a long task held past the timeout is
then delivered twice (Kombu issue #337).

This fixes it from the consumer side without changing the layout: the
core's :class:`kombu.transport.virtual.lease.LeaseKeeper` thread calls
:func:`renew_leases` every ``interval`` seconds (a fraction of
``visibility_timeout``), which rewrites the scores of the deliveries the
transport still holds (``ZADD unacked_index XX <now> tag ...``) over a
Redis connection of its own. The scores are then the time of the last
renewal, so every restorer -- ours or a Kombu 5 process using the same
``visibility_timeout`` or a longer one -- only restores the deliveries of a
consumer that stopped renewing: one that died (SIGKILL, crash, partition
longer than the timeout), or whose ``Connection`` was dropped without
``close()`` (the keeper holds the transport weakly and ends with it).

``XX`` means only existing entries are touched, so a delivery acked
meanwhile is never brought back. Once the connection that took the
deliveries is lost, renewing stops for good: those deliveries expire and
are restored even though the process lives on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kombu.transport.virtual.lease import LeaseKeeper

__all__ = ("renew_leases", "start_keeper")

logger = logging.getLogger(__name__)

#: Tags per ZADD command.
_CHUNK = 500


def start_keeper(transport: Any, interval: float) -> LeaseKeeper:
    """Start renewing ``transport``'s held deliveries every ``interval`` seconds.

    ``transport`` provides ``_lease_messages()`` (the held delivery tags,
    a snapshot), ``_link_alive()``, ``keys``, ``conninfo`` and the slots
    ``_lease_lost`` / ``_lease_client`` used here.
    """
    transport._lease_lost = False
    return LeaseKeeper(transport, interval, renew=renew_leases, name="kombu-redis-lease").start()


def renew_leases(transport: Any, tags: Sequence[str]) -> None:
    """The keeper's hook: mark ``tags`` as alive now (keeper thread only)."""
    if transport._lease_lost or not transport._link_alive():
        if not transport._lease_lost:
            logger.info("redis: consumer connection lost; lease renewal stopped")
        transport._lease_lost = True
        return
    client = transport._lease_client
    if client is None:
        import redis

        from .conninfo import make_pool

        client = transport._lease_client = redis.Redis(connection_pool=make_pool(transport.conninfo, max_connections=2))
    now = time.time()
    tags = list(tags)
    pipe = client.pipeline(transaction=False)
    for i in range(0, len(tags), _CHUNK):
        pipe.zadd(transport.keys.unacked_index_key, dict.fromkeys(tags[i : i + _CHUNK], now), xx=True)
    pipe.execute()


def close_client(transport: Any) -> None:
    """Close the lease connection (after the keeper stopped)."""
    client, transport._lease_client = transport._lease_client, None
    if client is not None:
        try:
            client.close()
            client.connection_pool.disconnect()
        except Exception:  # noqa: BLE001 - shutting down
            pass
