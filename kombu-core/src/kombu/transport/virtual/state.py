"""What a virtual broker knows of its topology: exchanges and bindings."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

__all__ = ("BrokerState",)


class BrokerState:
    """Exchanges and bindings declared on a virtual broker.

    Binding tables are replaced, never mutated, when they change, so a
    compiled router can be reused for as long as its table is the current one.
    """

    def __init__(self, exchanges: dict[str, dict[str, Any]] | None = None) -> None:
        self.exchanges: dict[str, dict[str, Any]] = {} if exchanges is None else exchanges
        self.bindings: dict[tuple[str, str, str], Any] = {}
        self.queue_index: defaultdict[str, set[tuple[str, str, str]]] = defaultdict(set)

    def clear(self) -> None:
        self.exchanges.clear()
        self.bindings.clear()
        self.queue_index.clear()

    def has_binding(self, queue: str, exchange: str, routing_key: str) -> bool:
        return (queue, exchange, routing_key) in self.bindings

    def binding_declare(self, queue: str, exchange: str, routing_key: str, arguments: Any) -> None:
        key = (queue, exchange, routing_key)
        self.bindings.setdefault(key, arguments)
        self.queue_index[queue].add(key)

    def binding_delete(self, queue: str, exchange: str, routing_key: str) -> None:
        key = (queue, exchange, routing_key)
        self.bindings.pop(key, None)
        self.queue_index[queue].discard(key)

    def queue_bindings_delete(self, queue: str) -> None:
        for key in self.queue_index.pop(queue, set()):
            self.bindings.pop(key, None)

    def queue_bindings(self, queue: str) -> list[tuple[str, str, Any]]:
        return [(exchange, rkey, self.bindings[(q, exchange, rkey)]) for q, exchange, rkey in self.queue_index[queue]]
