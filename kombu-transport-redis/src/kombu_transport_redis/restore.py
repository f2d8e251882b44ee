"""Restoring the deliveries of consumers that are gone (visibility timeout).

Kombu 5's protocol, made safe for many restorers: under the
``unacked_mutex`` lock (``SET NX`` with a token and an expiry, the lock
redis-py's ``Lock`` takes for Kombu 5), the entries of ``unacked_index``
older than ``visibility_timeout`` are read; each delivery is routed again
by its exchange and routing key (the record does not say which queue it
came from) and pushed back by the ``RESTORE_ROUTED`` script, which pushes
only if it removed the record itself: a delivery acked or restored by
someone else meanwhile is not duplicated.

Live consumers renew their entries (:mod:`.lease`), so only the deliveries
of dead consumers are old enough to be restored.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import scripts

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("restore_expired",)

logger = logging.getLogger(__name__)


def restore_expired(transport: Transport) -> int:
    """Restore expired deliveries once; return how many were pushed back."""
    keys = transport.keys
    link = transport.link
    ceil = time.time() - float(transport.visibility_timeout)
    # Look before locking: most sweeps find nothing and then take no lock.
    if not link.call("ZRANGEBYSCORE", keys.unacked_index_key, "-inf", repr(ceil), "LIMIT", 0, 1):
        return 0
    token = uuid.uuid4().hex
    expire = max(int(transport.unacked_mutex_expire), 1)
    if not link.call("SET", keys.unacked_mutex_key, token, "NX", "EX", expire):
        return 0
    channel = None
    try:
        limit = int(transport.unacked_restore_limit or 1000)
        tags = link.call("ZRANGEBYSCORE", keys.unacked_index_key, "-inf", repr(ceil), "LIMIT", 0, limit) or []
        if not tags:
            return 0
        channel = transport.create_channel(transport)
        restored = 0
        for tag in tags:
            restored += _restore_one(transport, channel, tag)
        if restored:
            logger.info("redis: restored %d deliveries of consumers that are gone", restored)
        return restored
    finally:
        if channel is not None:
            transport.channels.remove(channel) if channel in transport.channels else None
        try:
            link.evalsha(scripts.UNLOCK, [keys.unacked_mutex_key], [token])
        except transport.connection_errors:
            pass


def _restore_one(transport: Transport, channel: Any, tag: Any) -> int:
    keys = transport.keys
    link = transport.link
    value = link.call("HGET", keys.unacked_key, tag)
    if value is None:
        link.call("ZREM", keys.unacked_index_key, tag)
        return 0
    try:
        payload, exchange, routing_key = json.loads(value)
        props = payload["properties"]
        info = props.setdefault("delivery_info", {})
        info["redelivered"] = True
        if isinstance(payload.get("headers"), dict):
            payload["headers"]["redelivered"] = True
    except (ValueError, TypeError, KeyError, AttributeError):
        # Nothing could ever deliver it: dropped (once, by whoever removes it), not
        # found again by every sweep.
        if link.evalsha(scripts.RESTORE_ROUTED, [keys.unacked_key, keys.unacked_index_key], [tag, "", "head"]):
            logger.error("redis: dropped unacked record %r: not Kombu's format: %.200r", tag, value)
        return 0
    if not exchange:
        queues = [routing_key] if routing_key else []
    else:
        queues = channel._lookup(exchange, routing_key, headers=payload.get("headers"))
    if not queues:
        # Unroutable now (its queues and bindings are gone): dropped, as AMQP
        # drops an unroutable message and Kombu 5's restore does.
        link.evalsha(scripts.RESTORE_ROUTED, [keys.unacked_key, keys.unacked_index_key], [tag, "", "head"])
        logger.warning("redis: unacked delivery %r of exchange %r routes nowhere now; dropped", tag, exchange)
        return 0
    priority = channel._get_message_priority(payload)
    qkeys = [keys.queue_key(q, priority) for q in dict.fromkeys(queues)]
    pushed = link.evalsha(
        scripts.RESTORE_ROUTED, [keys.unacked_key, keys.unacked_index_key, *qkeys], [tag, json.dumps(payload), "head"]
    )
    return int(pushed or 0)
