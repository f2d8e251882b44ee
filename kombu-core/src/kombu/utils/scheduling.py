"""Scheduling helpers for consuming from many queues: :class:`FairCycle` and the cycle strategies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .imports import symbol_by_name

__all__ = ("FairCycle", "cycle_by_name", "priority_cycle", "round_robin_cycle", "sorted_cycle")

CYCLE_ALIASES = {
    "round_robin": "kombu.utils.scheduling:round_robin_cycle",
    "priority": "kombu.utils.scheduling:priority_cycle",
    "sorted": "kombu.utils.scheduling:sorted_cycle",
}


class FairCycle:
    """Take turns between resources: each :meth:`get` starts at the next resource.

    ``fun(resource, callback, **kwargs)`` is tried on each resource in turn
    until one does not raise ``predicate``; when every resource raised it,
    the last exception propagates (with no resources, ``predicate()`` is
    raised).
    """

    def __init__(
        self, fun: Callable[..., Any], resources: Sequence[Any], predicate: type[BaseException] = Exception
    ) -> None:
        self.fun = fun
        self.resources = resources
        self.predicate = predicate
        self.pos = 0

    def _next(self) -> Any:
        resources = self.resources
        if not resources:
            raise self.predicate()
        if self.pos >= len(resources):
            self.pos = 0
        resource = resources[self.pos]
        self.pos += 1
        return resource

    def get(self, callback: Callable[..., Any], **kwargs: Any) -> Any:
        """Call ``fun`` on the next resource, moving on while it raises ``predicate``."""
        tried = 0
        while True:
            resource = self._next()
            try:
                return self.fun(resource, callback, **kwargs)
            except self.predicate:
                if tried >= len(self.resources) - 1:
                    raise
                tried += 1

    def close(self) -> None:
        """Nothing to release (kept for API compatibility)."""

    def __repr__(self) -> str:
        return f"<FairCycle: {self.pos}/{len(self.resources)} {list(self.resources)!r}>"


class round_robin_cycle:
    """Rotate items: the item just used moves to the back."""

    def __init__(self, it: list[Any] | None = None) -> None:
        self.items = it if it is not None else []

    def update(self, it: Sequence[Any]) -> None:
        """Replace the items."""
        self.items[:] = it

    def consume(self, n: int) -> list[Any]:
        """Return the first ``n`` items."""
        return self.items[:n]

    def rotate(self, last_used: Any) -> Any:
        """Move ``last_used`` to the back; return it."""
        try:
            self.items.append(self.items.pop(self.items.index(last_used)))
        except ValueError:
            pass
        return last_used


class priority_cycle(round_robin_cycle):
    """Keep the given order: the first item is always tried first."""

    def rotate(self, last_used: Any) -> Any:
        """Do not reorder; return ``last_used``."""
        return last_used


class sorted_cycle(priority_cycle):
    """Try items in sorted order."""

    def consume(self, n: int) -> list[Any]:
        """Return the first ``n`` items in sorted order."""
        return sorted(self.items)[:n]


def cycle_by_name(name: str) -> Any:
    """Return the cycle class named ``round_robin``, ``priority``, ``sorted`` or by import path."""
    return symbol_by_name(name, CYCLE_ALIASES)
