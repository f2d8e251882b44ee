"""What a virtual broker knows of its topology: exchanges, bindings and queue policies."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, NamedTuple

__all__ = ("BrokerState", "binding_key_t", "queue_binding_t")


class binding_key_t(NamedTuple):
    """The key of a binding in :attr:`BrokerState.bindings` (Kombu 5's name)."""

    queue: str
    exchange: str
    routing_key: str


class queue_binding_t(NamedTuple):
    """A binding of a queue, as :meth:`BrokerState.queue_bindings` returns it (Kombu 5's name)."""

    exchange: str
    routing_key: str
    arguments: Any


class BrokerState:
    """Exchanges and bindings declared on a virtual broker.

    Binding tables are replaced, never mutated, when they change, so a
    compiled router can be reused for as long as its table is the current one.

    Queue policies (:class:`~kombu.transport.virtual.policy.QueuePolicy`)
    are recorded at declare time: ``queue_policies`` maps a queue to its
    policy, or to ``None`` once the queue is known to have none;
    ``queue_limits`` holds only the queues with a length limit, and
    ``expiring`` only those with ``x-expires`` (so both are empty, and
    cost nothing, when no queue uses them). ``queue_used`` is when each
    expiring queue was last used and ``queue_consumers`` how many
    consumers of this process consume it.

    ``topology_lock`` is held by the engine while it changes exchanges and
    bindings, so that threads declaring and binding the same exchange at
    once (each with its own connection, as Kombu 5 applications do) never
    lose a binding.
    """

    def __init__(self, exchanges: dict[str, dict[str, Any]] | None = None) -> None:
        self.exchanges: dict[str, dict[str, Any]] = {} if exchanges is None else exchanges
        self.bindings: dict[binding_key_t, Any] = {}
        self.queue_index: defaultdict[str, set[binding_key_t]] = defaultdict(set)
        self.queue_policies: dict[str, Any] = {}
        self.queue_limits: dict[str, Any] = {}
        self.expiring: dict[str, int] = {}
        self.queue_used: dict[str, float] = {}
        self.queue_consumers: defaultdict[str, int] = defaultdict(int)
        self.topology_lock = threading.RLock()

    def clear(self) -> None:
        self.exchanges.clear()
        self.bindings.clear()
        self.queue_index.clear()
        self.queue_policies.clear()
        self.queue_limits.clear()
        self.expiring.clear()
        self.queue_used.clear()
        self.queue_consumers.clear()

    def set_policy(self, queue: str, policy: Any) -> None:
        """Record ``queue``'s policy (``None``: it has none)."""
        self.queue_policies[queue] = policy
        if policy is not None and policy.limited:
            self.queue_limits[queue] = policy
        else:
            self.queue_limits.pop(queue, None)
        if policy is not None and policy.expires is not None:
            self.expiring[queue] = policy.expires
        else:
            self.expiring.pop(queue, None)

    def forget_queue(self, queue: str) -> None:
        """Drop what is recorded of a deleted queue's policy and use."""
        self.queue_policies.pop(queue, None)
        self.queue_limits.pop(queue, None)
        self.expiring.pop(queue, None)
        self.queue_used.pop(queue, None)

    def has_binding(self, queue: str, exchange: str, routing_key: str) -> bool:
        return (queue, exchange, routing_key) in self.bindings

    def binding_declare(self, queue: str, exchange: str, routing_key: str, arguments: Any) -> None:
        key = binding_key_t(queue, exchange, routing_key)
        self.bindings.setdefault(key, arguments)
        self.queue_index[queue].add(key)

    def binding_delete(self, queue: str, exchange: str, routing_key: str) -> None:
        key = binding_key_t(queue, exchange, routing_key)
        self.bindings.pop(key, None)
        self.queue_index[queue].discard(key)

    def queue_bindings_delete(self, queue: str) -> None:
        for key in self.queue_index.pop(queue, set()):
            self.bindings.pop(key, None)

    def queue_bindings(self, queue: str) -> list[queue_binding_t]:
        return [queue_binding_t(key.exchange, key.routing_key, self.bindings[key]) for key in self.queue_index[queue]]
