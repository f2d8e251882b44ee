"""Dead-lettering: the envelope a dead message becomes, with RabbitMQ's ``x-death``.

A message dies in a queue when it is rejected without requeue
(``"rejected"``), outlives its TTL (``"expired"``) or is pushed out of a
full queue (``"maxlen"``). If the queue has ``x-dead-letter-exchange``, the
engine republishes it there: routing key ``x-dead-letter-routing-key`` or
else the message's own routing key; body, content type and properties as
they were, except:

* ``expiration`` is removed (kept as ``original-expiration`` in the death
  record), so the message does not expire again by its old TTL;
* the ``x-death`` header lists one record per ``(queue, reason)``, most
  recent first: ``count``, ``reason``, ``queue``, ``time`` (epoch seconds),
  ``exchange``, ``routing-keys`` and maybe ``original-expiration``; a death
  for a pair already listed increments its ``count`` and moves it first;
* ``x-first-death-exchange``/``-queue``/``-reason`` are set on the first
  death and never changed; ``x-last-death-*`` follow the latest one.

A message that would be dead-lettered in a cycle with no rejection in it
(expired in queue A, dead-lettered to B, expired there, back to A...) is
dropped when it would die in the same queue a second time, as on RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kombu.transport.virtual.policy import QueuePolicy

__all__ = ("REJECTED", "EXPIRED", "MAXLEN", "dead_letter_envelope")

REJECTED = "rejected"
EXPIRED = "expired"
MAXLEN = "maxlen"


def _is_cycle(deaths: list[Any], queue: str, reason: str) -> bool:
    if reason == REJECTED:
        return False
    seen_here = False
    for death in deaths:
        if not isinstance(death, Mapping):
            continue
        if death.get("reason") == REJECTED:
            return False
        if death.get("queue") == queue:
            seen_here = True
    return seen_here


def dead_letter_envelope(
    payload: Mapping[str, Any],
    queue: str,
    reason: str,
    policy: QueuePolicy,
    now: float,
) -> tuple[str, str, dict[str, Any]] | None:
    """``(exchange, routing_key, envelope)`` to publish for a message that died in ``queue``.

    ``payload`` is the stored envelope as fetched (it is not modified).
    Returns ``None`` when the queue does not dead-letter, or when the death
    closes a cycle without rejections (the message is then dropped).
    """
    exchange = policy.dead_letter_exchange
    if exchange is None:
        return None
    raw_props = payload.get("properties")
    properties: dict[str, Any] = dict(raw_props) if isinstance(raw_props, Mapping) else {}
    raw_info = properties.get("delivery_info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    raw_headers = payload.get("headers")
    headers: dict[str, Any] = dict(raw_headers) if isinstance(raw_headers, Mapping) else {}
    old = headers.get("x-death")
    deaths: list[Any] = list(old) if isinstance(old, list) else []
    if _is_cycle(deaths, queue, reason):
        return None

    from_exchange = str(info.get("exchange") or "")
    from_key = str(info.get("routing_key") or "")
    expiration = properties.pop("expiration", None)
    for i, death in enumerate(deaths):
        if isinstance(death, Mapping) and death.get("queue") == queue and death.get("reason") == reason:
            record = dict(death)
            try:
                record["count"] = int(record.get("count") or 0) + 1
            except (TypeError, ValueError):
                record["count"] = 1
            del deaths[i]
            break
    else:
        record = {
            "count": 1,
            "reason": reason,
            "queue": queue,
            "time": int(now),
            "exchange": from_exchange,
            "routing-keys": [from_key],
        }
        if expiration is not None:
            record["original-expiration"] = str(expiration)
    deaths.insert(0, record)
    headers["x-death"] = deaths
    if "x-first-death-reason" not in headers:
        headers["x-first-death-exchange"] = from_exchange
        headers["x-first-death-queue"] = queue
        headers["x-first-death-reason"] = reason
    headers["x-last-death-exchange"] = from_exchange
    headers["x-last-death-queue"] = queue
    headers["x-last-death-reason"] = reason

    properties["delivery_info"] = {}
    properties.pop("delivery_tag", None)
    envelope = {key: value for key, value in payload.items() if key != "redelivered"}
    envelope["headers"] = headers
    envelope["properties"] = properties
    routing_key = policy.dead_letter_routing_key
    if routing_key is None:
        routing_key = from_key
    return exchange, routing_key, envelope
