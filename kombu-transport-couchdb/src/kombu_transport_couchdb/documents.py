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

One view, ``_design/kombu_v2`` / ``messages`` (created once per database; one
index to bring up to date per query), value the document's ``_rev``, reduce
``_count``, with two key spaces:

``["r", queue, rank, seq]``
    every ready message (``visible`` 0): the claim query (highest priority,
    then oldest first; ``limit`` is honoured by the index), size and purge.
``["w", queue, visible]``
    every claimed or delayed message: leases that ran out and delayed
    messages that came due are found here and made ready again
    (:meth:`Channel._restore_due`).

A consumer's changes feed is read unfiltered: the ids say what changed. A
publisher's feed follows only ``kombu.topology``, the document rewritten in
the same ``_bulk_docs`` as every binding change (:mod:`.watch`).
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
    "MESSAGE_PREFIX",
    "message_doc",
    "ready_range",
    "waiting_range",
    "DESIGN_DOC",
    "DESIGN_ID",
    "VIEW",
    "queue_id",
    "exchange_id",
    "binding_id",
    "binding_range",
    "parse_binding",
    "queue_of_message_id",
    "TOPOLOGY_PREFIXES",
    "TOPOLOGY_EPOCH_ID",
    "MAX_RANK",
    "Sequence",
)

MESSAGE_PREFIX = "kombu.m:"
MAX_RANK = 255
#: No view query returns more than this many rows at once.
PAGE = 1000

DESIGN_ID = "_design/kombu_v2"
VIEW = "messages"
DESIGN_DOC: dict[str, Any] = {
    "_id": DESIGN_ID,
    "language": "javascript",
    "views": {
        VIEW: {
            "map": (
                "function (doc) {"
                " if (typeof doc.queue !== 'string' || typeof doc.rank !== 'number'"
                " || typeof doc.visible !== 'number') { return; }"
                " if (doc.visible === 0) { emit(['r', doc.queue, doc.rank, doc.seq], doc._rev); }"
                " else { emit(['w', doc.queue, doc.visible], doc._rev); } }"
            ),
            "reduce": "_count",
        },
    },
}


def ready_range(queue: str) -> tuple[list[Any], list[Any]]:
    """View keys of ``queue``'s ready messages, in claim order."""
    return ["r", queue], ["r", queue, {}]


def waiting_range(queue: str, until: float | None = None) -> tuple[list[Any], list[Any]]:
    """View keys of ``queue``'s messages invisible until at most ``until`` (all: ``None``)."""
    return ["w", queue, 0], ["w", queue, {} if until is None else until]


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
    return {
        "_id": binding_id(exchange, routing_key, pattern, queue),
        "exchange": exchange,
        "routing_key": routing_key,
        "pattern": pattern,
        "bound_queue": queue,
    }


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


#: The document rewritten with every write or delete of binding documents (and
#: the deletes of exchanges and queues that take bindings with them): a
#: publisher that consumes nothing follows only this id on the changes feed.
TOPOLOGY_EPOCH_ID = "kombu.topology"
#: Ids of the documents that make the routing topology.
TOPOLOGY_PREFIXES = ("kombu.binding:", "kombu.exchange:", TOPOLOGY_EPOCH_ID)


def queue_of_message_id(doc_id: str) -> str | None:
    """The queue of a message document id, ``None`` for any other id."""
    if not doc_id.startswith(MESSAGE_PREFIX):
        return None
    quoted, sep, _ = doc_id[len(MESSAGE_PREFIX) :].rpartition(":")
    return unquote(quoted) if sep else None
