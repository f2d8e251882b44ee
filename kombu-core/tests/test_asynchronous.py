"""Behaviour of kombu.asynchronous: the Hub, the Timer and the semaphores."""

from __future__ import annotations

import socket
import time
from queue import Empty

import kombu.asynchronous.timer as timer_module
import pytest
from kombu.asynchronous import ERR, READ, WRITE, Hub, get_event_loop, set_event_loop
from kombu.asynchronous.semaphore import DummyLock, LaxBoundedSemaphore
from kombu.asynchronous.timer import Entry, Timer


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(timer_module, "monotonic", fake)
    return fake


def test_timer_runs_entries_in_due_order(clock):
    timer = Timer()
    ran = []
    timer.call_after(2, ran.append, ("b",))
    timer.call_after(1, ran.append, ("a",))
    canceled = timer.call_after(1.5, ran.append, ("never",))
    canceled.cancel()
    it = iter(timer)
    delay, entry = next(it)
    assert entry is None and delay == pytest.approx(1)
    clock.now += 5
    while True:
        delay, entry = next(it)
        if entry is None:
            break
        entry()
    assert ran == ["a", "b"]
    assert (delay, entry) == (None, None)


def test_timer_call_at_and_queue(clock):
    timer = Timer(max_interval=0.5)
    first = timer.call_at(clock.now + 10, print)
    assert [item.entry for item in timer.queue] == [first]
    delay, entry = next(iter(timer))
    assert delay == 0.5  # capped by max_interval
    assert len(timer) == 1
    timer.clear()
    assert len(timer) == 0


def test_timer_call_repeatedly_reschedules_until_canceled(clock):
    timer = Timer()
    ran = []
    entry = timer.call_repeatedly(1, ran.append, ("tick",))
    it = iter(timer)
    for _ in range(3):
        clock.now += 1
        _, due = next(it)
        assert due is entry
        due()
    assert ran == ["tick"] * 3
    entry.cancel()
    clock.now += 1
    assert next(it) == (None, None)


def test_timer_apply_entry_uses_on_error():
    errors = []
    timer = Timer(on_error=errors.append)

    def boom():
        raise KeyError("x")

    timer.apply_entry(Entry(boom))
    assert isinstance(errors[0], KeyError)


def test_timer_apply_entry_logs_unhandled_errors(caplog):
    def boom():
        raise KeyError("x")

    with caplog.at_level("ERROR", logger="kombu.asynchronous.timer"):
        Timer().apply_entry(Entry(boom))  # does not raise, as in Kombu 5
    assert "Error in timer" in caplog.text


def test_lax_bounded_semaphore():
    sem = LaxBoundedSemaphore(2)
    ran = []
    assert sem.acquire(ran.append, 1)
    assert sem.acquire(ran.append, 2)
    assert not sem.acquire(ran.append, 3)  # waits
    assert ran == [1, 2]
    sem.release()  # hands the slot to the waiter
    assert ran == [1, 2, 3] and sem.value == 0
    sem.release()
    sem.release()
    sem.release()  # lax: more releases than acquires is harmless
    assert sem.value == 2
    sem.grow(1)
    assert sem.value == 3 and sem.initial_value == 3
    sem.shrink(2)
    assert sem.value == 1 and sem.initial_value == 1
    assert sem.acquire(ran.append, 4)
    assert not sem.acquire(ran.append, 5)
    sem.grow(1)  # the new slot goes to the waiter
    assert ran[-1] == 5
    sem.clear()
    assert sem.value == sem.initial_value == 2
    with DummyLock():
        pass


def test_hub_call_soon_and_stop():
    hub = Hub()
    ran = []
    hub.call_soon(ran.append, 1)
    cancel = hub.call_soon(ran.append, "canceled")
    cancel.cancel()
    hub.call_soon(ran.append, 2)
    hub.call_soon(hub.stop)
    hub.run_forever()
    assert ran == [1, 2]
    hub.close()


def test_hub_reader_callback_and_remove():
    hub = Hub()
    a, b = socket.socketpair()
    got = []

    def on_readable(sock):
        got.append(sock.recv(10))
        if len(got) == 2:
            hub.stop()

    try:
        hub.add_reader(a, on_readable, a)
        assert a.fileno() in hub.readers
        b.send(b"one")
        hub.run_once()
        assert got == [b"one"]
        b.send(b"two")
        hub.run_forever()
        assert got == [b"one", b"two"]
        hub.remove(a)
        assert not hub.readers
        b.send(b"three")
        hub.call_soon(hub.stop)
        hub.run_forever()
        assert got == [b"one", b"two"]
    finally:
        hub.close()
        a.close()
        b.close()


def test_hub_reader_and_writer_on_same_fd():
    hub = Hub()
    a, b = socket.socketpair()
    events = []
    try:
        hub.add_writer(a, events.append, "w")
        hub.add_reader(a, events.append, "r")
        b.send(b"x")
        hub.run_once()
        # the same fd is watched for both: each callback gets its event
        assert events == ["r", "w"]
        assert a.fileno() in hub.readers and a.fileno() in hub.writers
        hub.remove_reader(a)
        events.clear()
        hub.run_once()
        assert events == ["w"]
        hub.remove_writer(a)
        assert not hub.readers and not hub.writers
    finally:
        hub.close()
        a.close()
        b.close()


def test_hub_reader_raising_empty_is_ignored():
    hub = Hub()
    a, b = socket.socketpair()

    def reader():
        a.recv(10)
        raise Empty()

    try:
        hub.add_reader(a, reader)
        b.send(b"x")
        hub.run_once()  # does not raise
    finally:
        hub.close()
        a.close()
        b.close()


def test_hub_timers_fire_and_errors_are_logged(caplog):
    hub = Hub()
    ran = []

    def boom():
        raise RuntimeError("bad timer")

    hub.call_later(0, boom)
    hub.call_later(0, ran.append, "later")
    hub.call_at(0, ran.append, "at")
    entry = hub.call_repeatedly(0, ran.append, "repeat")
    for _ in range(3):
        hub.run_once()
    entry.cancel()
    assert "later" in ran and "at" in ran
    assert ran.count("repeat") >= 2
    assert "bad timer" in caplog.text
    hub.close()


def test_hub_callback_errors_propagate_and_loop_continues():
    hub = Hub()

    def boom():
        raise ValueError("callback failed")

    hub.call_soon(boom)
    with pytest.raises(ValueError):
        hub.run_once()
    ran = []
    hub.call_soon(ran.append, 1)
    hub.call_soon(hub.stop)
    hub.run_forever()
    assert ran == [1]


def test_hub_on_tick_and_on_close():
    hub = Hub()
    ticks, closed = [], []
    hub.on_tick.add(lambda: ticks.append(1))
    hub.on_close.add(closed.append)
    hub.call_later(0, hub.stop)  # a timer, so on_tick of that iteration still runs (Kombu's order)
    hub.run_forever()
    assert ticks == [1]  # stop() raises from the next iteration's ready callbacks, before its ticks
    hub.close()
    assert closed == [hub]


def test_get_set_event_loop():
    previous = get_event_loop()
    hub = Hub()
    try:
        assert set_event_loop(hub) is hub
        assert get_event_loop() is hub
    finally:
        set_event_loop(previous)
    assert (READ, WRITE, ERR) == (Hub.READ, Hub.WRITE, Hub.ERR)


def test_hub_run_forever_consumes_memory_messages_published_from_another_thread():
    import threading

    from kombu import Connection, Queue
    from kombu.utils.uuid import uuid

    queue = Queue(f"hub-{uuid()}")
    received = []
    hub = Hub()

    def on_message(body, message):
        received.append(body)
        message.ack()
        if len(received) == 3:
            hub.stop()

    with Connection("memory://") as conn:
        assert conn.is_evented
        consumer = conn.Consumer(queue, callbacks=[on_message])
        consumer.consume()
        conn.register_with_event_loop(hub)

        def publish():
            with Connection("memory://") as other:
                for i in range(3):
                    other.Producer().publish(i, routing_key=queue.name)

        hub.call_soon(threading.Thread(target=publish).start)
        hub.run_forever()
        assert received == [0, 1, 2]
        consumer.cancel()
    hub.close()


def test_hub_consolidates_read_events():
    hub = Hub()
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    batches = []
    hub.consolidate_callback = batches.append
    try:
        hub.add(a, None, READ | ERR, consolidate=True)
        hub.add(c, None, READ | ERR, consolidate=True)
        b.send(b"x")
        d.send(b"y")
        hub.run_once()
        assert len(batches) == 1 and sorted(batches[0]) == sorted([a.fileno(), c.fileno()])
        assert "R" in hub.repr_events([(a.fileno(), READ)])
        hub.remove(a)
        assert a.fileno() not in hub.consolidate
    finally:
        hub.close()
        for s in (a, b, c, d):
            s.close()


def test_hub_consolidates_write_events_of_descriptors_added_without_callback():
    # Celery's prefork pool: hub.add(fd, None, WRITE | ERR, consolidate=True), writes scheduled in a batch.
    hub = Hub()
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    batches = []
    hub.consolidate_callback = batches.append
    try:
        hub.add(a, None, WRITE | ERR, consolidate=True)
        hub.add(c, None, WRITE | ERR, consolidate=True)
        hub.run_once()
        assert len(batches) == 1 and sorted(batches[0]) == sorted([a.fileno(), c.fileno()])
        assert hub._callback_for(a, WRITE) == batches.append
        # A writer callback added for one of them takes its write events from then on.
        written = []
        hub.add_writer(a, written.append, "a")
        hub.run_once()
        assert written == ["a"] and batches[1] == [c.fileno()]
        hub.remove_writer(a)
        hub.run_once()
        assert written == ["a"] and batches[2] == [c.fileno()]
    finally:
        hub.close()
        for s in (a, b, c, d):
            s.close()


def test_hub_fires_due_timers_before_on_tick_in_the_same_iteration():
    # A due timer's work must be seen by on_tick (Celery adds pool writers there) before the loop waits.
    hub = Hub()
    a, b = socket.socketpair()
    order = []
    wrote = []

    def tick():
        order.append("tick")
        if "timer" in order and not wrote:
            hub.add_writer(a, wrote.append, "sent")

    hub.on_tick.add(tick)
    try:
        hub.call_later(0, order.append, "timer")
        hub.call_later(30, order.append, "late")  # keeps the next poll timeout long
        started = time.monotonic()
        hub.run_once()
        assert order[:2] == ["timer", "tick"]
        assert wrote == ["sent"]
        assert time.monotonic() - started < 20  # the iteration did not wait for the 30 s timer
    finally:
        hub.close()
        a.close()
        b.close()


class AckPromise:
    """The shape of vine's promise that Celery queues with ``hub.call_soon`` for an ack."""

    def __init__(self, fun):
        self.fun = fun
        self.cancelled = False

    def __call__(self):
        if not self.cancelled:
            return self.fun()
        return None

    def then(self, callback):
        raise NotImplementedError

    def cancel(self):
        self.cancelled = True


def test_call_soon_queues_a_promise_as_it_is():
    # Celery's prefork pool pops the ready callbacks and runs the ones whose ``fun`` is a Message ack.
    hub = Hub()
    done = []
    promise = AckPromise(lambda: done.append("ack"))
    try:
        assert hub.call_soon(promise) is promise
        wrapped = hub.call_soon(done.append, "plain")
        ready = hub._pop_ready()
        assert list(ready) == [promise, wrapped] and ready.pop() is wrapped
        hub.call_soon(promise)
        cancelled = hub.call_soon(AckPromise(lambda: done.append("never")))
        cancelled.cancel()
        hub.run_once()
        assert done == ["ack"]
    finally:
        hub.close()


def test_debug_descriptions():
    from kombu.asynchronous.debug import callback_for, repr_active, repr_events, repr_flag

    hub = Hub()
    a, b = socket.socketpair()
    try:

        def on_read():
            pass

        hub.add_reader(a, on_read)
        assert repr_flag(READ) == "R" and repr_flag(READ | WRITE) == "RW" and repr_flag(ERR) == "!"
        assert "on_read" in repr_active(hub) and "on_read" in hub.repr_active()
        assert "on_read" in repr_events(hub, [(a.fileno(), READ)])
        assert callback_for(hub, a.fileno(), READ)[0] is on_read
        assert hub._callback_for(a, READ)[0] is on_read
        assert callback_for(hub, a.fileno(), WRITE, None) is None
        with pytest.raises(KeyError):
            callback_for(hub, a.fileno(), WRITE)
    finally:
        hub.close()
        a.close()
        b.close()


def test_hub_close_runs_pending_callbacks_once():
    hub = Hub()
    ran = []

    def ack():
        ran.append("ack")
        hub.call_soon(ran.append, "scheduled during close")

    hub.call_soon(ack)
    hub.close()
    assert ran == ["ack"]


def test_to_timestamp_maps_wall_clock_datetimes_onto_the_timer_clock():
    from datetime import datetime, timedelta, timezone
    from time import monotonic

    from kombu.asynchronous.timer import to_timestamp

    soon = datetime.now(timezone.utc) + timedelta(seconds=100)
    assert to_timestamp(soon) == pytest.approx(monotonic() + 100, abs=5)
    naive_utc = soon.replace(tzinfo=None)  # naive datetimes are UTC
    assert to_timestamp(naive_utc) == pytest.approx(monotonic() + 100, abs=5)
    assert to_timestamp(datetime(1971, 1, 1)) == 0  # never below zero
    assert to_timestamp(42.5) == 42.5


def test_timer_call_at_datetime():
    from datetime import datetime, timedelta, timezone

    timer = Timer()
    ran = []
    timer.call_at(datetime.now(timezone.utc) - timedelta(seconds=1), ran.append, ("past",))
    later = timer.call_at(datetime.now(timezone.utc) + timedelta(hours=1), ran.append, ("future",))
    it = iter(timer)
    delay, entry = next(it)
    entry()
    delay, entry = next(it)
    assert ran == ["past"] and entry is None and delay > 0
    later.cancel()


@pytest.mark.timeout(20)
def test_call_soon_and_stop_from_another_thread_wake_the_loop():
    import threading

    # A timer an hour away makes the loop wait in poll for up to 60 s at a
    # time: only a wakeup from the other thread ends it before the timeout.
    hub = Hub(timer=Timer(max_interval=60))
    hub.call_later(3600, lambda: None)
    ran = []

    def other():
        hub.call_soon(ran.append, "from thread")
        hub.stop()

    threading.Timer(0.05, other).start()
    hub.run_forever()
    assert ran == ["from thread"]
    hub.close()


def test_generator_callbacks_advance_once_per_event():
    hub = Hub()
    a, b = socket.socketpair()
    steps = []

    def writer():
        steps.append(1)
        yield
        steps.append(2)

    try:
        hub.add_writer(a, writer())
        hub.run_once()
        assert steps == [1]
        hub.run_once()
        assert steps == [1, 2]
        hub.run_once()  # exhausted: nothing more happens
        assert steps == [1, 2]
    finally:
        hub.close()
        a.close()
        b.close()


def test_close_forgets_the_current_loop():
    hub = Hub()
    set_event_loop(hub)
    hub.close()
    assert get_event_loop() is None
