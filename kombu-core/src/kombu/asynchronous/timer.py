"""A timer: a heap of callbacks due at given (monotonic) times, driven by the caller.

Nothing here runs in a thread. Iterating a :class:`Timer` yields
``(delay, entry)`` pairs: an entry that is due (call it), or the seconds to
wait until the next one is (``(None, None)`` when nothing is scheduled). The
:class:`~kombu.asynchronous.hub.Hub` drives a timer this way.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone, tzinfo
from time import monotonic
from time import time as _wall_time
from typing import Any, NamedTuple

__all__ = ("Entry", "Timer", "to_timestamp")

logger = logging.getLogger(__name__)

#: The default cap, in seconds, on the delay a timer reports.
DEFAULT_MAX_INTERVAL = 2
EPOCH = datetime.fromtimestamp(0, timezone.utc)  # noqa: UP017 - Python 3.10


def to_timestamp(
    d: datetime | float, default_timezone: tzinfo | None = timezone.utc, time: Callable[[], float] = monotonic
) -> float:  # noqa: UP017
    """Convert a wall-clock ``datetime`` to the timer's clock (``time``, monotonic); numbers pass through.

    A naive ``datetime`` is taken to be in ``default_timezone`` (UTC). The
    result never goes below 0. This is what :meth:`Timer.call_at` expects,
    so ``timer.call_at(to_timestamp(eta), fun)`` runs ``fun`` at ``eta``.
    """
    if isinstance(d, datetime):
        if d.tzinfo is None:
            d = d.replace(tzinfo=default_timezone)
        offset = _wall_time() - time()
        return max((d - EPOCH).total_seconds() - offset, 0)
    return d


class scheduled(NamedTuple):
    """A heap item: when it is due, its priority and the entry."""

    eta: float
    priority: int
    entry: Entry


class Entry:
    """A scheduled call, ``fun(*args, **kwargs)``; :meth:`cancel` stops it from running."""

    __slots__ = ("__weakref__", "_last_run", "args", "canceled", "fun", "kwargs", "tref")

    def __init__(
        self,
        fun: Callable[..., Any],
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.fun = fun
        self.args = args or ()
        self.kwargs = kwargs or {}
        self.tref = self
        self._last_run: float | None = None
        self.canceled = False

    def __call__(self) -> Any:
        return self.fun(*self.args, **self.kwargs)

    def cancel(self) -> None:
        """Make sure the call does not run (again)."""
        self.tref.canceled = True

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (American spelling)."""
        return self.canceled

    def __repr__(self) -> str:
        name = getattr(self.fun, "__qualname__", None) or repr(self.fun)
        return f"<TimerEntry: {name}(*{self.args!r}, **{self.kwargs!r})>"

    # Heap ties on (eta, priority) fall back to comparing entries.
    def __lt__(self, other: Entry) -> bool:
        return id(self) < id(other)


TimerEntry = Entry


class Timer:
    """Callbacks scheduled by time, run by whoever iterates the timer.

    Times are :func:`time.monotonic` seconds. ``max_interval`` caps the
    delay the iterator reports. ``on_error(exc)``, if given, is called when
    an entry run through :meth:`apply_entry` raises; otherwise the error
    is logged (``kombu.asynchronous.timer``) and does not propagate.
    """

    Entry: type[TimerEntry] = Entry

    def __init__(
        self, max_interval: float | None = None, on_error: Callable[[BaseException], Any] | None = None, **kwargs: Any
    ) -> None:
        self.max_interval = float(max_interval or DEFAULT_MAX_INTERVAL)
        self.on_error = on_error or self.on_error
        self._queue: list[scheduled] = []

    on_error: Callable[[BaseException], Any] | None = None

    def __enter__(self) -> Timer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call_at(
        self,
        eta: float | datetime,
        fun: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> TimerEntry:
        """Run ``fun`` at monotonic time ``eta`` (or at a wall-clock ``datetime``)."""
        return self.enter_at(self.Entry(fun, args, kwargs), eta, priority)

    def call_after(
        self,
        secs: float,
        fun: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> TimerEntry:
        """Run ``fun`` ``secs`` seconds from now."""
        return self.enter_after(secs, self.Entry(fun, args, kwargs), priority)

    def call_repeatedly(
        self,
        secs: float,
        fun: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> TimerEntry:
        """Run ``fun`` every ``secs`` seconds, first ``secs`` from now, until the entry is canceled.

        The next run is scheduled even if ``fun`` raises.
        """
        entry = self.Entry(fun, args, kwargs)
        call_args, call_kwargs = entry.args, entry.kwargs

        def run() -> Any:
            entry._last_run = monotonic()
            try:
                return fun(*call_args, **call_kwargs)
            finally:
                if not entry.canceled:
                    self.enter_after(secs, entry, priority)

        run.__qualname__ = getattr(fun, "__qualname__", repr(fun))
        entry.fun = run
        entry.args, entry.kwargs = (), {}
        return self.enter_after(secs, entry, priority)

    def enter_at(
        self,
        entry: TimerEntry,
        eta: float | datetime | None = None,
        priority: int = 0,
        time: Callable[[], float] | None = None,
    ) -> TimerEntry:
        """Schedule ``entry`` at ``eta`` (now, by the clock ``time``, monotonic by default, if ``None``); return it."""
        if eta is None:
            eta = (time or monotonic)()
        elif isinstance(eta, datetime):
            try:
                eta = to_timestamp(eta)
            except Exception as exc:
                if not self.handle_error(exc):
                    raise
                return entry
        heapq.heappush(self._queue, scheduled(eta, priority, entry))
        return entry

    def enter_after(
        self, secs: float, entry: TimerEntry, priority: int = 0, time: Callable[[], float] | None = None
    ) -> TimerEntry:
        """Schedule ``entry`` ``secs`` seconds from now (by the clock ``time``, monotonic by default, like the timer's); return it."""
        return self.enter_at(entry, (time or monotonic)() + float(secs), priority)

    def apply_entry(self, entry: TimerEntry) -> None:
        """Run ``entry``; an exception goes to ``on_error`` if one is set, else it is logged.

        Either way the exception does not propagate, so one failing entry
        never stops the timer's caller (as in Kombu 5).
        """
        try:
            entry()
        except Exception as exc:
            if not self.handle_error(exc):
                logger.error("Error in timer: %r", exc, exc_info=True)

    def handle_error(self, exc_info: BaseException) -> bool:
        """Pass ``exc_info`` (the exception) to ``on_error``; return whether there was one to handle it."""
        if self.on_error:
            self.on_error(exc_info)
            return True
        return False

    def stop(self) -> None:
        """Nothing to stop: the timer has no thread (kept for API compatibility)."""

    def __iter__(self) -> Iterator[tuple[float | None, TimerEntry | None]]:
        queue = self._queue
        max_interval = self.max_interval
        while True:
            if not queue:
                yield None, None
                continue
            eta, _, entry = queue[0]
            now = monotonic()
            if now < eta:
                yield min(eta - now, max_interval), None
                continue
            heapq.heappop(queue)
            if not entry.canceled:
                yield None, entry

    def clear(self) -> None:
        """Drop every scheduled entry."""
        self._queue[:] = []

    def cancel(self, tref: TimerEntry) -> None:
        """Cancel the entry ``tref``."""
        tref.cancel()

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return True

    @property
    def queue(self) -> list[scheduled]:
        """The scheduled items in due order (a sorted snapshot)."""
        return sorted(self._queue)

    @property
    def schedule(self) -> Timer:
        """The timer itself (for code written against Kombu's older API)."""
        return self
