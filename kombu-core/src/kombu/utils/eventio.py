"""A small poller over ``epoll``, ``poll`` or ``select``, with READ/WRITE/ERR flags.

``poll()`` returns the best poller the platform has. Every poller has
``register(fd, events)``, ``unregister(fd)``, ``poll(timeout)`` and
``close()``; ``fd`` may be an int or anything with ``fileno()``.
``poll(timeout)`` takes seconds (``None`` blocks) and returns a list of
``(fd, events)`` pairs whose events are a mix of :data:`READ`, :data:`WRITE`
and :data:`ERR`.
"""

from __future__ import annotations

import errno
import select
from typing import Any

from .compat import fileno

__all__ = ("ERR", "POLL_ERR", "POLL_READ", "POLL_WRITE", "READ", "WRITE", "poll")

#: The descriptor is readable.
READ = POLL_READ = 0x001
#: The descriptor is writable.
WRITE = POLL_WRITE = 0x004
#: The descriptor has an error or was hung up.
ERR = POLL_ERR = 0x008 | 0x010

# The poll(2) bits READ/WRITE/ERR are made of (the same values on every platform).
POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x001, 0x004, 0x008, 0x010, 0x020
#: ``select()`` errors meaning a registered descriptor is no longer valid.
SELECT_BAD_FD = {errno.EBADF}


class _poll:
    """Poller on ``select.poll`` (whose flag values READ/WRITE/ERR are)."""

    def __init__(self) -> None:
        self._poller = select.poll()
        self._events: dict[int, int] = {}

    def register(self, fd: Any, events: int) -> int:
        """Watch ``fd`` for ``events`` (replacing what was watched before)."""
        fd = fileno(fd)
        self._poller.register(fd, events)
        self._events[fd] = events
        return int(fd)

    def unregister(self, fd: Any) -> None:
        """Stop watching ``fd``; unknown or closed descriptors are ignored."""
        try:
            fd = fileno(fd)
        except (AttributeError, ValueError, OSError):
            return
        self._events.pop(fd, None)
        try:
            self._poller.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait up to ``timeout`` seconds; return ``(fd, events)`` for the ready descriptors."""
        try:
            return self._poller.poll(None if timeout is None else timeout * 1000.0)
        except InterruptedError:
            return []

    def close(self) -> None:
        """Release the poller."""
        self._events.clear()
        self._poller = None  # type: ignore[assignment]


class _epoll(_poll):
    """Poller on Linux ``epoll`` (same flag values as ``poll``)."""

    def __init__(self) -> None:
        self._poller = select.epoll()  # type: ignore[assignment]
        self._events = {}

    def register(self, fd: Any, events: int) -> int:
        fd = fileno(fd)
        try:
            self._poller.register(fd, events)
        except FileExistsError:
            self._poller.modify(fd, events)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            self._poller.modify(fd, events)
        self._events[fd] = events
        return int(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        try:
            return self._poller.poll(-1 if timeout is None else timeout)  # type: ignore[call-arg, unused-ignore]
        except InterruptedError:
            return []

    def close(self) -> None:
        self._events.clear()
        self._poller.close()  # type: ignore[attr-defined]


class _select(_poll):
    """Poller on ``select.select``, for platforms without ``poll``."""

    def __init__(self) -> None:
        self._events = {}

    def register(self, fd: Any, events: int) -> int:
        fd = fileno(fd)
        self._events[fd] = events
        return int(fd)

    def unregister(self, fd: Any) -> None:
        try:
            self._events.pop(fileno(fd), None)
        except (AttributeError, ValueError, OSError):
            pass

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        readers = [fd for fd, ev in self._events.items() if ev & READ]
        writers = [fd for fd, ev in self._events.items() if ev & WRITE]
        errors = [fd for fd, ev in self._events.items() if ev & ERR]
        try:
            r, w, x = select.select(readers, writers, errors, timeout)
        except InterruptedError:
            return []
        except OSError:
            # A descriptor was closed behind our back: report it as an error.
            bad = []
            for fd in list(self._events):
                try:
                    select.select([fd], [], [], 0)
                except OSError:
                    bad.append((fd, ERR))
            return bad
        ready: dict[int, int] = {}
        for fds, flag in ((r, READ), (w, WRITE), (x, ERR)):
            for fd in fds:
                ready[fd] = ready.get(fd, 0) | flag
        return list(ready.items())

    def close(self) -> None:
        self._events.clear()


def _best() -> type[_poll]:
    if hasattr(select, "epoll"):
        return _epoll
    if hasattr(select, "poll"):
        return _poll
    return _select


def poll(*args: Any, **kwargs: Any) -> _poll:
    """Return a new poller of the best kind this platform supports."""
    return _best()(*args, **kwargs)
