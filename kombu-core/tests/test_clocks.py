"""Behaviour of kombu.clocks."""

from __future__ import annotations

import heapq
import pickle
import threading

from kombu.clocks import LamportClock, timetuple


def test_forward_and_adjust():
    clock = LamportClock()
    assert clock.value == 0
    assert clock.forward() == 1
    assert clock.adjust(10) == 11
    assert clock.adjust(3) == 12  # a lower remote stamp still moves forward
    assert str(clock) == "12" and repr(clock) == "<LamportClock: 12>"
    assert LamportClock(initial_value=5).forward() == 6


def test_lamport_orders_causally_related_events():
    a, b = LamportClock(), LamportClock()
    sent = a.forward()  # a sends a message stamped `sent`
    received = b.adjust(sent)  # b receives it
    reply = b.forward()  # b's reply happens after
    assert sent < received < reply
    assert a.adjust(reply) > reply


def test_forward_is_thread_safe():
    clock = LamportClock()

    def bump():
        for _ in range(1000):
            clock.forward()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.value == 4000


def test_sort_heap_breaks_ties_by_process_id():
    clock = LamportClock()
    assert clock.sort_heap([(1, "b"), (2, "a")]) == (1, "b")
    assert clock.sort_heap([(1, "c"), (1, "a"), (1, "b"), (2, "0")]) == (1, "a")


def test_timetuple_ordering_and_fields():
    t = timetuple(3, 100.0, "host:1", {"x": 1})
    assert (t.clock, t.timestamp, t.id, t.obj) == (3, 100.0, "host:1", {"x": 1})
    assert timetuple(1, 500.0, "b") < timetuple(2, 1.0, "a")  # logical clock wins over time
    assert timetuple(2, 1.0, "a") < timetuple(2, 0.0, "b")  # equal clocks: lower id first
    assert timetuple(None, 1.0, "b") < timetuple(None, 2.0, "a")  # no clocks: timestamps
    assert timetuple(2, 0, "a") > timetuple(1, 0, "a")
    assert timetuple(1, 0, "a") <= timetuple(1, 0, "a") and timetuple(1, 0, "a") >= timetuple(1, 0, "a")
    heap = []
    for item in [timetuple(5, 0, "x"), timetuple(1, 0, "z"), timetuple(3, 0, "y")]:
        heapq.heappush(heap, item)
    assert [heapq.heappop(heap).clock for _ in range(3)] == [1, 3, 5]
    assert pickle.loads(pickle.dumps(t)) == t
    assert "clock=3" in repr(t)
