"""Semaphores for callback-driven code: :class:`LaxBoundedSemaphore` and :class:`DummyLock`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ("DummyLock", "LaxBoundedSemaphore")


class LaxBoundedSemaphore:
    """A semaphore that runs callbacks instead of blocking.

    ``acquire(callback, *args)`` runs ``callback(*args)`` right away if a slot
    is free (and returns true), otherwise queues it (and returns false);
    ``release()`` hands the freed slot to the oldest queued callback, or makes
    the slot free again. The count never rises above the initial value, so
    releasing too often is harmless ("lax").
    """

    def __init__(self, value: int) -> None:
        self.initial_value = self.value = value
        self._waiting: deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = deque()

    def acquire(self, callback: Callable[..., Any], *partial_args: Any, **partial_kwargs: Any) -> bool:
        """Run ``callback`` now if a slot is free (return true), else queue it (return false)."""
        if self.value <= 0:
            self._waiting.append((callback, partial_args, partial_kwargs))
            return False
        self.value = max(self.value - 1, 0)
        callback(*partial_args, **partial_kwargs)
        return True

    def release(self) -> None:
        """Give a slot back: to the oldest waiting callback if any, else to the pool."""
        try:
            waiter, args, kwargs = self._waiting.popleft()
        except IndexError:
            self.value = min(self.value + 1, self.initial_value)
        else:
            waiter(*args, **kwargs)

    def grow(self, n: int = 1) -> None:
        """Add ``n`` slots, running waiting callbacks with them first."""
        self.initial_value += n
        for _ in range(n):
            if self._waiting:
                waiter, args, kwargs = self._waiting.popleft()
                waiter(*args, **kwargs)
            else:
                self.value += 1

    def shrink(self, n: int = 1) -> None:
        """Remove ``n`` slots (never below zero)."""
        self.initial_value = max(self.initial_value - n, 0)
        self.value = max(self.value - n, 0)

    def clear(self) -> None:
        """Drop every waiting callback and free every slot."""
        self._waiting.clear()
        self.value = self.initial_value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} value:{self.value} waiting:{len(self._waiting)}>"


class DummyLock:
    """A lock that does nothing: a stand-in where no locking is needed."""

    def __enter__(self) -> DummyLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass
