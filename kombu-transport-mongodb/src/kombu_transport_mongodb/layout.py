"""Where messages, bindings and queue options live in the database.

The layout is Kombu 5.7's, so a fleet can mix Kombu 5.7 and this project:

* ``messages`` (``messages_collection``): one document per ready message,
  ``{queue, payload, priority}``; ``payload`` is the JSON envelope and
  ``priority`` is ``9 - priority`` so that an ascending sort gives the
  highest priority first (Kombu 5.7 sorts the same field the same way).
* ``messages.routing`` (``routing_collection``): one document per binding,
  ``{exchange, queue, routing_key, pattern}``, plus ``exchange_type`` (an
  extra field Kombu 5.7 ignores) so that a process that never declared the
  exchange routes through it correctly.
* ``messages.queues`` (``queues_collection``): ``{_id: queue, options}``, the
  queue's declared arguments (Kombu 5.7 writes it only with ``ttl``).

Fields of this project, invisible to Kombu 5.7 consumers because they move
the document out of its queue while it is not ready:

* a claimed (delivered, unacknowledged) message has ``queue`` set to
  :func:`claimed` of its queue, ``claim`` (the claiming channel's token) and
  ``lease`` (epoch seconds when the claim runs out);
* a delayed message has ``queue`` set to :func:`delayed` of its queue and
  ``not_before`` (epoch seconds) until it is due;
* ``redelivered: true`` once it went back to its queue unacknowledged.

Times are epoch seconds (floats), not BSON dates: comparable on every server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = (
    "CLAIMED_PREFIX",
    "DELAYED_PREFIX",
    "Collections",
    "claimed",
    "delayed",
    "stored_priority",
    "MAX_PRIORITY",
    "KOMBU_PRIORITY_BASE",
)

#: ``queue`` of a claimed message: this prefix and its queue's name.
CLAIMED_PREFIX = "kombu.claimed:"
#: ``queue`` of a delayed message until it is due.
DELAYED_PREFIX = "kombu.delayed:"
#: AMQP's highest priority.
MAX_PRIORITY = 255
#: Kombu 5.7 stores ``9 - priority`` (its virtual channels' ``max_priority``).
KOMBU_PRIORITY_BASE = 9


def claimed(queue: str) -> str:
    """The ``queue`` value of a message of ``queue`` while it is claimed."""
    return CLAIMED_PREFIX + queue


def delayed(queue: str) -> str:
    """The ``queue`` value of a message of ``queue`` until it is due."""
    return DELAYED_PREFIX + queue


def stored_priority(priority: Any, max_priority: int | None) -> int:
    """The ``priority`` field for a message published with ``priority``.

    A queue declared without ``max_priority`` ignores priorities (AMQP), so
    every message gets priority 0; otherwise the priority is clamped to
    ``0..max_priority``. Stored as ``9 - priority`` (Kombu 5.7's field):
    ascending order is highest priority first, for Kombu 5.7 consumers too.
    """
    if not max_priority:
        value = 0
    else:
        try:
            value = int(priority or 0)
        except (TypeError, ValueError):
            value = 0
        value = max(0, min(value, max_priority, MAX_PRIORITY))
    return KOMBU_PRIORITY_BASE - value


@dataclass(frozen=True)
class Collections:
    """The collection names (Kombu 5.7's transport options and defaults)."""

    messages: str = "messages"
    routing: str = "messages.routing"
    queues: str = "messages.queues"
    broadcast: str = "messages.broadcast"

    def undotted(self) -> Collections:
        """These names with every ``.`` replaced by ``_`` (see :mod:`.quirks`)."""
        return Collections(
            *(getattr(self, f).replace(".", "_") for f in ("messages", "routing", "queues", "broadcast"))
        )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Collections:
        return cls(
            messages=options.get("messages_collection") or cls.messages,
            routing=options.get("routing_collection") or cls.routing,
            queues=options.get("queues_collection") or cls.queues,
            broadcast=options.get("broadcast_collection") or cls.broadcast,
        )
