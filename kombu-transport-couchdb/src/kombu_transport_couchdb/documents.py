"""What the transport stores in its CouchDB database, and the queries on it.

Documents (every id starts with ``kombu.``; components are %-quoted):

``kombu.m:<queue>:<uuid>``, one per message and queue::

    {"queue": q, "rank": 255 - priority, "seq": <µs publish time>,
     "visible": <epoch s>, "claim": <token or null>, "deliveries": n,
     "payload": <the Kombu envelope>}

    ``visible`` is 0 for a ready message; a claim sets it to the end of the
    lease (now + visibility timeout). A consumer claims a message by writing
    it with its ``_rev`` (a 409 conflict: someone else won); ack deletes it
    with its ``_rev``; requeue sets ``visible`` back to 0.

``kombu.queue:<queue>``, one per declared queue (its arguments).
``kombu.exchange:<exchange>``, one per declared exchange (type, durable, ...).
``kombu.binding:<exchange>:<routing key>:<queue>:<hash of the pattern>``, one
per binding, so that every process routes the same.

Indexes: the Mango index ``_design/kombu`` / ``claim`` on
``[queue, rank, seq]`` serves the claim query (highest priority, then oldest
first). The changes feed is read unfiltered: the ids say what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any
from urllib.parse import quote, unquote
from uuid import uuid4

__all__ = (
    "MESSAGE_PREFIX", "message_doc", "claim_query", "ready_query", "all_query",
    "queue_id", "exchange_id", "binding_id", "binding_range", "parse_binding",
    "queue_of_message_id", "TOPOLOGY_PREFIXES",
    "CLAIM_INDEX", "MAX_RANK", "Sequence",
)

MESSAGE_PREFIX = "kombu.m:"
MAX_RANK = 255
#: No Mango query returns more than this many documents at once.
PAGE = 1000

CLAIM_INDEX: dict[str, Any] = {
    "index": {"fields": ["queue", "rank", "seq"]},
    "ddoc": "kombu",
    "name": "claim",
    "type": "json",
}
_SORT = [{"queue": "asc"}, {"rank": "asc"}, {"seq": "asc"}]


class Sequence:
    """Publish order: microseconds since the epoch, strictly increasing in a process.

    Microseconds stay below 2**53, so JavaScript servers keep them exact.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()

    def __call__(self) -> int:
        now = time.time_ns() // 1000
        with self._lock:
            if now <= self._last:
                now = self._last + 1
            self._last = now
            return now


def priority_rank(priority: Any) -> int:
    """The stored rank of a priority: 0 for the highest (255), 255 for 0 (the default)."""
    try:
        p = int(priority or 0)
    except (TypeError, ValueError):
        p = 0
    return MAX_RANK - max(0, min(p, MAX_RANK))


def delay_of(envelope: dict[str, Any]) -> float:
    """The ``x-delay`` header (milliseconds, as RabbitMQ's delayed-message exchange) in seconds."""
    headers = envelope.get("headers")
    value = headers.get("x-delay") if isinstance(headers, dict) else None
    if value is None:
        return 0.0
    try:
        return max(float(value) / 1000.0, 0.0)
    except (TypeError, ValueError):
        return 0.0


def message_doc(queue: str, envelope: dict[str, Any], seq: int) -> dict[str, Any]:
    """A new message document for ``queue`` (visible at once, or after its ``x-delay``)."""
    delay = delay_of(envelope)
    visible = time.time() + delay if delay else 0.0
    return {
        "_id": f"{MESSAGE_PREFIX}{_q(queue)}:{uuid4().hex}",
        "queue": queue,
        "rank": priority_rank(envelope.get("properties", {}).get("priority")),
        "seq": seq,
        "visible": visible,
        "claim": None,
        "deliveries": 0,
        "payload": envelope,
    }


def _indexed(queue: str) -> dict[str, Any]:
    # Every sort field in the selector: some Mango implementations need it
    # to pick the index, and it is valid on all.
    return {"queue": queue, "rank": {"$gte": 0}, "seq": {"$gt": None}}


def claim_query(queue: str, now: float, limit: int) -> dict[str, Any]:
    """Ready messages of ``queue``, highest priority then oldest first."""
    return {
        "selector": {**_indexed(queue), "visible": {"$lte": now}},
        "sort": _SORT,
        "limit": limit,
        "use_index": "kombu",
    }


def ready_query(queue: str, now: float, fields: list[str]) -> dict[str, Any]:
    """The ready messages of ``queue`` (only ``fields``), for size and purge."""
    return {"selector": {**_indexed(queue), "visible": {"$lte": now}}, "fields": fields,
            "limit": PAGE, "use_index": "kombu"}


def all_query(queue: str, fields: list[str]) -> dict[str, Any]:
    """Every message of ``queue``, claimed or not (for queue deletion)."""
    return {"selector": _indexed(queue), "fields": fields, "limit": PAGE, "use_index": "kombu"}


def _q(text: str) -> str:
    return quote(text, safe="")


def queue_id(queue: str) -> str:
    return f"kombu.queue:{_q(queue)}"


def exchange_id(exchange: str) -> str:
    return f"kombu.exchange:{_q(exchange)}"


def _pattern_hash(pattern: Any) -> str:
    raw = json.dumps(pattern, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:12]


def binding_id(exchange: str, routing_key: str, pattern: Any, queue: str) -> str:
    return f"kombu.binding:{_q(exchange)}:{_q(routing_key)}:{_q(queue)}:{_pattern_hash(pattern)}"


def binding_doc(exchange: str, routing_key: str, pattern: Any, queue: str) -> dict[str, Any]:
    return {"_id": binding_id(exchange, routing_key, pattern, queue), "exchange": exchange,
            "routing_key": routing_key, "pattern": pattern, "bound_queue": queue}


def binding_range(exchange: str) -> tuple[str, str]:
    """``_all_docs`` start and end keys of every binding of ``exchange``."""
    start = f"kombu.binding:{_q(exchange)}:"
    return start, start + "\ufff0"


def parse_binding(doc: dict[str, Any]) -> tuple[str, Any, str] | None:
    """The ``(routing_key, pattern, queue)`` table entry stored in a binding document."""
    try:
        return str(doc["routing_key"]), doc.get("pattern"), str(doc["bound_queue"])
    except (KeyError, TypeError):
        return None


#: Ids of the documents that make the routing topology.
TOPOLOGY_PREFIXES = ("kombu.binding:", "kombu.exchange:")


def queue_of_message_id(doc_id: str) -> str | None:
    """The queue of a message document id, ``None`` for any other id."""
    if not doc_id.startswith(MESSAGE_PREFIX):
        return None
    quoted, sep, _ = doc_id[len(MESSAGE_PREFIX):].rpartition(":")
    return unquote(quoted) if sep else None
