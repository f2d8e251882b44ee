"""Rate limiting: :class:`TokenBucket`."""

from __future__ import annotations

from collections import deque
from time import monotonic
from typing import Any

__all__ = ("TokenBucket",)


class TokenBucket:
    """A token bucket: at most ``capacity`` tokens, refilled at ``fill_rate`` per second.

    :meth:`can_consume` takes tokens if there are enough and says whether it
    did; :meth:`expected_time` says how long to wait until it would succeed.
    The bucket starts full. It also holds a FIFO of pending items
    (:meth:`add`, :meth:`pop`, :meth:`clear_pending`) for callers that queue
    work behind the limit.
    """

    #: Tokens added per second.
    fill_rate: float = None  # type: ignore[assignment]
    #: Maximum number of tokens in the bucket.
    capacity: float = 1
    #: When the bucket was last refilled.
    timestamp: float = None  # type: ignore[assignment]

    def __init__(self, fill_rate: float, capacity: float = 1) -> None:
        self.capacity = float(capacity)
        self._tokens = self.capacity
        self.fill_rate = float(fill_rate)
        self.timestamp = monotonic()
        self.contents: deque[Any] = deque()

    def add(self, item: Any) -> None:
        """Append ``item`` to the pending items."""
        self.contents.append(item)

    def pop(self) -> Any:
        """Remove and return the oldest pending item (``IndexError`` if none)."""
        return self.contents.popleft()

    def clear_pending(self) -> None:
        """Forget every pending item."""
        self.contents.clear()

    def can_consume(self, tokens: int = 1) -> bool:
        """Take ``tokens`` from the bucket and return true, or return false if too few are left."""
        if tokens <= self._get_tokens():
            self._tokens -= tokens
            return True
        return False

    def expected_time(self, tokens: int = 1) -> float:
        """Return the seconds until ``tokens`` can be consumed (0 if they can now)."""
        available = self._get_tokens()
        wanted = max(tokens, available)
        return (wanted - available) / self.fill_rate

    def _get_tokens(self) -> float:
        # The clock advances while the bucket is full too: time spent idle at
        # capacity is not refill time, so a drained bucket does not refill
        # at once from it (a burst of twice the capacity).
        now = monotonic()
        if self._tokens < self.capacity:
            self._tokens = min(self.capacity, self._tokens + self.fill_rate * (now - self.timestamp))
        self.timestamp = now
        return self._tokens
