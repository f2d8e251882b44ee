"""Logical clocks: :class:`LamportClock` and the :class:`timetuple` event stamp."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ("LamportClock", "timetuple")

R_CLOCK = "_lamport(clock={0}, timestamp={1}, id={2} {3!r})"


class timetuple(tuple[int | None, float, str, Any]):
    """An event's place in time: ``(clock, timestamp, id, obj)``.

    ``clock`` is a logical (Lamport) clock value, ``timestamp`` a wall-clock
    time, ``id`` the emitting process (e.g. ``"host:pid"``) and ``obj`` any
    payload. Ordering uses the logical clocks when both sides have one (ties
    broken by ``id``), else the timestamps, so a list of timetuples can be
    used as a heap of events in causal order.
    """

    __slots__ = ()

    def __new__(cls, clock: int | None, timestamp: float, id: str, obj: Any = None) -> timetuple:
        return tuple.__new__(cls, (clock, timestamp, id, obj))

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return R_CLOCK.format(*self)

    def __lt__(self, other: Sequence[Any]) -> bool:
        try:
            mine = self[0]
            theirs: int | None = other[0]
            if mine and theirs:
                if mine == theirs:
                    their_id: str = other[2]
                    return self[2] < their_id
                return mine < theirs
            their_timestamp: float = other[1]
            return self[1] < their_timestamp
        except IndexError:
            return NotImplemented

    def __gt__(self, other: Sequence[Any]) -> bool:
        return timetuple.__lt__(other, self) if isinstance(other, timetuple) else NotImplemented

    def __le__(self, other: Sequence[Any]) -> bool:
        return not self > other

    def __ge__(self, other: Sequence[Any]) -> bool:
        return not self < other

    @property
    def clock(self) -> int | None:
        """The logical clock value."""
        return self[0]

    @property
    def timestamp(self) -> float:
        """The wall-clock timestamp."""
        return self[1]

    @property
    def id(self) -> str:
        """The id of the process the event came from."""
        return self[2]

    @property
    def obj(self) -> Any:
        """The object attached to the event."""
        return self[3]


class LamportClock:
    """A Lamport logical clock, safe to share between threads.

    Every process keeps one. Before sending an event a process calls
    :meth:`forward` and stamps the event with the result; on receiving an
    event stamped ``t`` it calls :meth:`adjust(t) <adjust>`. Then if event A
    happened before event B, A's stamp is lower than B's. Events with equal
    stamps are ordered by process id (:meth:`sort_heap`).
    """

    #: The current clock value.
    value: int = 0

    def __init__(self, initial_value: int = 0, Lock: Callable[[], Any] = threading.Lock) -> None:
        self.value = initial_value
        self.mutex = Lock()

    def adjust(self, other: int) -> int:
        """Merge a received stamp: the value becomes ``max(value, other) + 1``; return it."""
        with self.mutex:
            value = self.value = max(self.value, other) + 1
            return value

    def forward(self) -> int:
        """Advance the clock by one (a local event) and return the new value."""
        with self.mutex:
            self.value += 1
            return self.value

    def sort_heap(self, h: Sequence[Sequence[Any]]) -> Sequence[Any]:
        """Return the first event of ``h``, a list of ``(clock, process_id, ...)`` sorted by clock.

        When several events share the lowest clock value, the one with the
        lowest process id wins, so every process picks the same event.
        """
        first = h[0][0]
        same = [event for event in h if event[0] == first]
        if len(same) == 1:
            return h[0]
        return min(same, key=lambda event: event[1])

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return f"<LamportClock: {self.value}>"
