"""Binding tables read from the routing collection, cached per exchange.

A publish routes through the exchange's binding table. Reading the routing
collection on every publish would double its cost, so the table is cached
for ``routing_cache_ttl`` seconds (default 1) and dropped at once when this
process binds or unbinds. A publish that finds no queue re-reads the table
before giving up, so a binding made by another process routes from the
moment it is stored when it is the first for its key; a further queue bound
by another process to a key that already routes gets copies within
``routing_cache_ttl``. ``routing_cache_ttl=0`` reads the table on every
publish (Kombu 5.7's behaviour).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ("Routes",)

Binding = tuple[str, Any, str]
#: A table read less than this long ago is not re-read on a miss.
_MISS_REREAD_AFTER = 0.01


class Routes:
    """Per-exchange binding tables from ``find(exchange)``, cached for ``ttl`` seconds."""

    def __init__(self, collection: Callable[[], Any], ttl: float) -> None:
        self._collection = collection
        self.ttl = float(ttl)
        self._lock = threading.Lock()
        #: exchange -> (read at, stored bindings, stored exchange type)
        self._stored: dict[str, tuple[float, list[Binding], str | None]] = {}
        #: exchange -> (local table, stored bindings, merged table)
        self._merged: dict[str, tuple[Any, list[Binding], list[Binding]]] = {}

    def _read(self, exchange: str) -> tuple[float, list[Binding], str | None]:
        now = time.monotonic()
        with self._lock:
            entry = self._stored.get(exchange)
        if entry is not None and self.ttl > 0 and now - entry[0] < self.ttl:
            return entry
        bindings: list[Binding] = []
        exchange_type = None
        for doc in self._collection().find({"exchange": exchange}):
            bindings.append((doc.get("routing_key") or "", doc.get("pattern"), doc["queue"]))
            exchange_type = exchange_type or doc.get("exchange_type")
        entry = (now, bindings, exchange_type)
        with self._lock:
            self._stored[exchange] = entry
        return entry

    def table(self, exchange: str, local: Sequence[Binding]) -> list[Binding]:
        """The bindings declared in this process (``local``) and the stored ones, without duplicates.

        The same list object is returned while neither changes, so compiled
        routers are reused.
        """
        stored = self._read(exchange)[1]
        merged = self._merged.get(exchange)
        if merged is not None and merged[0] is local and merged[1] is stored:
            return merged[2]
        seen: set[tuple[str, str, str]] = set()
        table: list[Binding] = []
        for binding in (*local, *stored):
            key = (binding[0], repr(binding[1]), binding[2])
            if key not in seen:
                seen.add(key)
                table.append(binding)
        self._merged[exchange] = (local, stored, table)
        return table

    def exchange_type(self, exchange: str) -> str | None:
        """The type stored with the exchange's bindings (``None`` if it has none)."""
        return self._read(exchange)[2]

    def may_be_stale(self, exchange: str) -> bool:
        """Whether the cached table of ``exchange`` is old enough to be worth re-reading."""
        with self._lock:
            entry = self._stored.get(exchange)
        return entry is not None and time.monotonic() - entry[0] >= _MISS_REREAD_AFTER

    def invalidate(self, exchange: str | None = None) -> None:
        with self._lock:
            if exchange is None:
                self._stored.clear()
            else:
                self._stored.pop(exchange, None)
