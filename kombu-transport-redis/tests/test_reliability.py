"""At-least-once under failures: SIGKILL, clean shutdown, long tasks, restarts, dead servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from .conftest import PrivateRedis, free_port

FAST = {"visibility_timeout": 1.0, "unacked_restore_interval": 0.2, "unacked_mutex_expire": 2}


def _queue(name: str, **kw: Any) -> Queue:
    return Queue(name, Exchange(name + ".x", "direct"), routing_key=name, **kw)


def _publish(url: str, q: Queue, bodies: list[Any]) -> None:
    with Connection(url) as conn:
        q(conn.channel()).declare()
        p = Producer(conn.channel(), exchange=q.exchange)
        for b in bodies:
            p.publish(b, routing_key=q.routing_key)


def _drain(url: str, q: Queue, count: int, timeout: float = 8.0, opts: Any = None, ack: bool = True) -> list[Any]:
    got: list[Any] = []

    def cb(body: Any, message: Any) -> None:
        got.append((body, bool(message.delivery_info.get("redelivered"))))
        if ack:
            message.ack()

    with Connection(url, transport_options=opts or {}) as conn:
        with Consumer(conn.channel(), [q], callbacks=[cb]):
            deadline = time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
    return got


HOLDER = r"""
import sys, time
from kombu import Connection, Consumer, Exchange, Queue
url, name, opts = sys.argv[1], sys.argv[2], eval(sys.argv[3])
q = Queue(name, Exchange(name + ".x", "direct"), routing_key=name)
with Connection(url, transport_options=opts) as conn:
    got = []
    with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(b)],
                  prefetch_count=int(sys.argv[4])):
        while len(got) < int(sys.argv[4]):
            conn.drain_events(timeout=5)
        print("HOLDING", len(got), flush=True)
        time.sleep(float(sys.argv[5]))     # a long task: no drain_events, no ack
        print("DONE", flush=True)
"""


def _holder(url: str, name: str, opts: dict[str, Any], n: int, sleep: float) -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, name, repr(opts), str(n), str(sleep)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("HOLDING"), line
    return proc


def test_sigkilled_consumer_messages_are_restored(redis_url: str, uname: str) -> None:
    q = _queue(uname)
    _publish(redis_url, q, [{"n": i} for i in range(3)])
    proc = _holder(redis_url, uname, FAST, 3, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    got = _drain(redis_url, q, 3, opts=FAST)
    assert sorted(b["n"] for b, _ in got) == [0, 1, 2]
    assert all(redelivered for _, redelivered in got)


def test_clean_close_restores_at_once(redis_url: str, uname: str) -> None:
    q = _queue(uname)
    _publish(redis_url, q, ["a", "b"])
    # visibility timeout of an hour: only the clean close can bring them back
    got = _drain(redis_url, q, 2, ack=False, opts={"visibility_timeout": 3600})
    assert [b for b, _ in got] == ["a", "b"]
    again = _drain(redis_url, q, 2, opts={"visibility_timeout": 3600})
    assert [b for b, _ in again] == ["a", "b"]
    assert all(r for _, r in again)


def test_reject_requeue_puts_back_at_the_tail_as_kombu(redis_url: str, uname: str) -> None:
    q = _queue(uname)
    _publish(redis_url, q, ["first", "second"])
    with Connection(redis_url) as conn:
        bound = q(conn.channel())
        m = bound.get()
        assert m.payload == "first"
        m.reject(requeue=True)
        assert bound.get().payload == "second"
        again = bound.get()
        assert again.payload == "first" and again.delivery_info.get("redelivered")
        again.ack()


def test_requeued_one_by_one_come_back_in_delivery_order(redis_url: str, uname: str) -> None:
    q = _queue(uname)
    _publish(redis_url, q, ["a", "b", "c"])
    with Connection(redis_url) as conn:
        bound = q(conn.channel())
        held = [bound.get() for _ in range(3)]
        for message in held:
            message.requeue()
        again = [bound.get() for _ in range(3)]
        assert [m.payload for m in again] == ["a", "b", "c"]
        for message in again:
            message.ack()


def test_long_task_is_not_redelivered_while_its_consumer_lives(redis_url: str, uname: str) -> None:
    """Kombu #337: the lease of a live consumer is renewed, even inside a long callback."""
    q = _queue(uname)
    _publish(redis_url, q, ["long"])
    opts = {**FAST, "visibility_timeout": 2.0}  # renewed every 0.5 s by the holder
    proc = _holder(redis_url, uname, opts, 1, 10.0)
    try:
        other = _drain(redis_url, q, 1, timeout=6.0, opts=opts)  # 3 visibility timeouts
        assert other == [], "a live consumer's long task was redelivered"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    got = _drain(redis_url, q, 1, timeout=10.0, opts=opts)
    assert got == [("long", True)]


def test_server_restart_loses_nothing(private_redis: PrivateRedis, uname: str) -> None:
    url = private_redis.url
    q = _queue(uname)
    with Connection(url, transport_options=FAST) as pconn, Connection(url, transport_options=FAST) as conn:
        q(pconn.channel()).declare()
        producer = Producer(pconn.channel(), exchange=q.exchange)
        publish = pconn.ensure(
            producer, producer.publish, max_retries=20, interval_start=0.1, interval_step=0.2, interval_max=0.5
        )
        for i in range(5):
            publish({"n": i}, routing_key=uname)
        got: list[Any] = []
        held: list[Any] = []

        def cb(body: Any, message: Any) -> None:
            got.append(body["n"])
            if body["n"] == 0:
                held.append(message)  # acked only after the restart
            else:
                message.ack()

        consumer = Consumer(conn.channel(), [q], callbacks=[cb], prefetch_count=2)
        consumer.consume()
        conn.drain_events(timeout=2)
        private_redis.restart()
        for i in range(5, 8):
            publish({"n": i}, routing_key=uname)
        deadline = time.monotonic() + 20
        while len(set(got)) < 8 and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.3)
            except TimeoutError:
                pass
            except conn.connection_errors:
                conn.ensure_connection(max_retries=20, interval_start=0.1, interval_step=0.2)
                consumer.revive(conn.channel())
                consumer.consume()
        for m in held:
            try:
                m.ack()
            except Exception:  # noqa: BLE001 - its channel died with the restart
                pass
    assert set(got) == set(range(8))


def test_dead_server_gives_operational_error_within_timeout() -> None:
    port = free_port()
    conn = Connection(f"redis://:secret-pw@127.0.0.1:{port}/0", connect_timeout=1)
    start = time.monotonic()
    with pytest.raises(OperationalError) as info:
        conn.ensure_connection(max_retries=1)
    assert time.monotonic() - start < 10
    assert "secret-pw" not in str(info.value) and "secret-pw" not in repr(conn)


def test_password_never_in_repr_or_uri() -> None:
    conn = Connection("redis://user:hunter2@127.0.0.1:6379/3")
    assert "hunter2" not in repr(conn) and "hunter2" not in conn.as_uri()


def test_register_with_event_loop(redis_url: str, uname: str) -> None:
    from kombu.asynchronous.hub import Hub

    q = _queue(uname)
    _publish(redis_url, q, ["x", "y"])
    got: list[Any] = []
    hub = Hub()
    with Connection(redis_url) as conn:
        conn.transport.register_with_event_loop(conn.connection, hub)
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + 5
            while len(got) < 2 and time.monotonic() < deadline:
                hub.run_once()
            _publish(redis_url, q, ["z"])
            deadline = time.monotonic() + 5
            while len(got) < 3 and time.monotonic() < deadline:
                hub.run_once()
    hub.close()
    assert got == ["x", "y", "z"]


def test_consumer_mixin_resumes_after_server_restart(private_redis: PrivateRedis, uname: str) -> None:
    import threading

    from kombu.mixins import ConsumerMixin

    url = private_redis.url
    q = _queue(uname)
    got: list[int] = []

    class Worker(ConsumerMixin):
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
            return [Consumer(queues=[q], callbacks=[self.on_message])]

        def on_message(self, body: Any, message: Any) -> None:
            got.append(body["n"])
            message.ack()

    with Connection(url, transport_options=FAST) as conn:
        worker = Worker(conn)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            _publish(url, q, [{"n": 0}])
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            private_redis.restart()
            with Connection(url) as pconn:
                producer = Producer(pconn.channel(), exchange=q.exchange)
                publish = pconn.ensure(
                    producer, producer.publish, max_retries=20, interval_start=0.1, interval_step=0.2
                )
                for i in range(1, 4):
                    publish({"n": i}, routing_key=uname)
            deadline = time.monotonic() + 20
            while len(set(got)) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            worker.should_stop = True
            thread.join(10)
    assert set(got) == {0, 1, 2, 3}


def test_notify_wait_mode_pops_nothing_while_idle(private_redis: PrivateRedis, uname: str) -> None:
    """wait_for_messages="notify": idle consumers wake on keyspace events, fetch atomically."""
    import redis

    url = private_redis.url
    q = _queue(uname)
    opts = {**FAST, "wait_for_messages": "notify"}
    got: list[Any] = []
    with Connection(url, transport_options=opts) as conn:
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            for _ in range(3):  # idle: subscribed, nothing popped
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
            flags = redis.Redis(port=private_redis.port).config_get("notify-keyspace-events")
            assert "K" in flags["notify-keyspace-events"]
            _publish(url, q, ["a", "b", "c"])
            deadline = time.monotonic() + 5
            while len(got) < 3 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
    assert got == ["a", "b", "c"]
