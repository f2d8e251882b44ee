"""Connection loss and recovery on both transports.

The broker closes *only this test's* connection (``rabbitmqctl
close_connection`` on the connection found by its ``connection_name``
client property), or the kit's fault proxy cuts it. Other suites' connections
on the same broker are left alone.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.mixins import ConsumerMixin
from kombu.testing.proxy import FaultProxy

from .conftest import fresh, rabbitmqctl

TIMEOUT = 30.0


def named(url: str, name: str, **kwargs: Any) -> Connection:
    """A connection that announces ``name`` as its ``connection_name``."""
    return Connection(url, transport_options={"client_properties": {"connection_name": name}}, **kwargs)


def close_named(name: str) -> int:
    """Have RabbitMQ close every connection called ``name``; return how many."""
    closed = 0
    deadline = time.monotonic() + TIMEOUT
    while not closed and time.monotonic() < deadline:
        listing = rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
        for line in listing.splitlines():
            pid, _, props = line.partition("\t")
            if f'"{name}"' in props:
                rabbitmqctl("close_connection", pid.strip(), "test closes it")
                closed += 1
        if not closed:
            time.sleep(0.2)
    return closed


class Worker(ConsumerMixin):
    """A ConsumerMixin that records bodies and stops after ``want`` messages."""

    def __init__(self, connection: Connection, queue: Queue, want: int) -> None:
        self.connection = connection
        self.queue = queue
        self.want = want
        self.bodies: list[Any] = []
        self.connects = 0

    def get_consumers(self, consumer_cls: Any, channel: Any) -> list[Any]:
        return [consumer_cls([self.queue], callbacks=[self.on_message], accept=["json"])]

    def on_connection_revived(self) -> None:
        self.connects += 1

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        self.connects += 1

    def on_message(self, body: Any, message: Any) -> None:
        self.bodies.append(body)
        message.ack()
        if len(self.bodies) >= self.want:
            self.should_stop = True


def wait_for(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def run_worker(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, kwargs={"_tokens": 1}, daemon=True)
    thread.start()
    return thread


def exclusive_topology(names: list[str]) -> tuple[Exchange, Queue]:
    """A non-durable, auto-delete queue: it dies with the consumer's connection,
    so resuming proves the topology is re-declared."""
    exchange = Exchange(fresh(names, "x"), "direct", durable=False, auto_delete=True)
    return exchange, Queue(fresh(names), exchange, "key", durable=False, auto_delete=True)


def publish_until(url: str, exchange: Exchange, body: Any, seen: Any) -> None:
    """Publish ``body`` (retrying: the queue may be re-declared meanwhile) until ``seen()``."""
    deadline = time.monotonic() + TIMEOUT
    with Connection(url) as conn:
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        while not seen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{body!r} never arrived")
            producer.publish(body, declare=[exchange])
            wait_until = time.monotonic() + 1
            while not seen() and time.monotonic() < wait_until:
                time.sleep(0.05)


def test_consumer_mixin_resumes_after_rabbitmq_closes_its_connection(url: str, names: list[str]) -> None:
    name = f"amqp-tests-{uuid.uuid4().hex[:8]}"
    exchange, queue = exclusive_topology(names)
    conn = named(url, name)
    worker = Worker(conn, queue, want=2)
    thread = run_worker(worker)
    try:
        wait_for(lambda: worker.connects >= 1)
        publish_until(url, exchange, {"m": "before"}, lambda: {"m": "before"} in worker.bodies)
        assert close_named(name) >= 1
        publish_until(url, exchange, {"m": "after"}, lambda: {"m": "after"} in worker.bodies)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        assert worker.bodies[0] == {"m": "before"} and {"m": "after"} in worker.bodies
    finally:
        worker.should_stop = True
        thread.join(5)
        conn.release()


def test_consumer_mixin_resumes_after_the_network_is_cut(url: str, names: list[str]) -> None:
    exchange, queue = exclusive_topology(names)
    with FaultProxy("127.0.0.1", 5672) as proxy:
        conn = Connection(proxy.url(url))
        worker = Worker(conn, queue, want=2)
        thread = run_worker(worker)
        try:
            wait_for(lambda: worker.connects >= 1)
            publish_until(url, exchange, {"m": "before"}, lambda: {"m": "before"} in worker.bodies)
            assert proxy.cut(reset=True) >= 1
            publish_until(url, exchange, {"m": "after"}, lambda: {"m": "after"} in worker.bodies)
            thread.join(TIMEOUT)
            assert not thread.is_alive()
            assert proxy.accepted >= 2
        finally:
            worker.should_stop = True
            thread.join(5)
            conn.release()


def test_unacked_messages_come_back_after_the_connection_is_closed(url: str, names: list[str]) -> None:
    name = f"amqp-tests-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    queue = Queue(fresh(names), exchange, "key", durable=False)
    with Connection(url) as direct:
        queue(direct.default_channel).declare()
        producer = Producer(direct.default_channel, exchange=exchange, routing_key="key")
        for i in range(3):
            producer.publish(i)
        held: list[Any] = []
        with named(url, name) as doomed:
            with Consumer(doomed.channel(), [queue], callbacks=[lambda b, m: held.append(b)]):
                deadline = time.monotonic() + TIMEOUT
                while len(held) < 3 and time.monotonic() < deadline:
                    try:
                        doomed.drain_events(timeout=0.5)
                    except Exception:  # noqa: BLE001
                        break
                assert close_named(name) >= 1
        got: list[Any] = []
        with Consumer(direct.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + TIMEOUT
            while len(got) < 3 and time.monotonic() < deadline:
                try:
                    direct.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
        assert sorted(got) == [0, 1, 2]


def test_ensure_republishes_with_confirms_after_a_cut(url: str, names: list[str]) -> None:
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    queue = Queue(fresh(names), exchange, "key", durable=False)
    with Connection(url) as direct, FaultProxy("127.0.0.1", 5672) as proxy:
        queue(direct.default_channel).declare()
        proxied = Connection(proxy.url(url), transport_options={"confirm_publish": True})
        try:
            producer = Producer(proxied.default_channel, exchange=exchange, routing_key="key")
            producer.publish({"n": 1})  # confirmed: it is on the broker
            assert proxy.cut(reset=True) >= 1
            publish = proxied.ensure(
                producer, producer.publish, max_retries=5, interval_start=0, interval_step=0.2, interval_max=1
            )
            publish({"n": 2})  # confirmed after the reconnect
            assert queue(direct.default_channel).queue_declare(passive=True)[1] == 2
        finally:
            proxied.release()


@pytest.mark.parametrize("mode", ["direct", "cork", "buffer"])
def test_publish_reaches_the_broker_before_this_thread_blocks(mode: str, names: list[str]) -> None:
    """Whatever the write mode, a publish is on the broker once this thread
    waits on any connection (here: a synchronous call on another one)."""
    from .conftest import AMQP_URL

    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    queue = Queue(fresh(names), exchange, "key", durable=False)
    with Connection(AMQP_URL) as watcher, Connection(AMQP_URL, transport_options={"write_mode": mode}) as publisher:
        queue(watcher.default_channel).declare()
        producer = Producer(publisher.default_channel, exchange=exchange, routing_key="key")
        for i in range(10):
            producer.publish(i)
        wait_for(lambda: queue(watcher.default_channel).queue_declare(passive=True)[1] == 10)
        producer.publish(10)
        # A synchronous call on the publishing connection sends the publish
        # before it. Watch from another thread: its reads push nothing of ours.
        queue(publisher.default_channel).queue_declare(passive=True)
        seen: list[int] = []

        def watch() -> None:
            with Connection(AMQP_URL) as conn:
                bound = queue(conn.default_channel)
                wait_for(lambda: bound.queue_declare(passive=True)[1] == 11)
                seen.append(11)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        thread.join(TIMEOUT + 5)
        assert seen == [11]


def test_virtual_host_login_method_and_client_properties(url: str, names: list[str]) -> None:
    vhost = f"amqp-tests-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        scheme = url.split("://", 1)[0]
        name = f"amqp-tests-{uuid.uuid4().hex[:8]}"
        login = "AMQPLAIN" if scheme == "amqp" else "PLAIN"
        with named(f"{scheme}://guest:guest@127.0.0.1:5672/{vhost}", name, login_method=login) as conn:
            exchange = Exchange("vx", "direct", durable=False)
            queue = Queue("vq", exchange, "key", durable=False)
            queue(conn.default_channel).declare()
            Producer(conn.default_channel).publish({"v": 1}, exchange=exchange, routing_key="key")
            got: list[Any] = []
            with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
                deadline = time.monotonic() + TIMEOUT
                while not got and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
            assert got == [{"v": 1}]
            listing = rabbitmqctl("list_connections", "-p", vhost, "--no-table-headers", "vhost", "client_properties")
            ours = [line for line in listing.splitlines() if f'"{name}"' in line]
            assert ours and '"kombu-transport-amqp"' in ours[0]
            assert ours[0].startswith(vhost)
    finally:
        rabbitmqctl("delete_vhost", vhost)


def test_pika_refuses_an_unsupported_login_method() -> None:
    from kombu.exceptions import CapabilityNotSupported

    from .conftest import PIKA_URL

    conn = Connection(PIKA_URL, login_method="AMQPLAIN")
    with pytest.raises(CapabilityNotSupported):
        conn.connect()


def test_read_and_write_timeouts_are_accepted(url: str) -> None:
    options = {"read_timeout": 5, "write_timeout": 5}
    with Connection(url, transport_options=options, connect_timeout=5) as conn:
        conn.connect()
        assert conn.connected
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)


def test_heartbeat_check_detects_a_silent_broker(url: str) -> None:
    """With the network stalled (proxy paused), heartbeat_check raises a connection error."""
    with FaultProxy("127.0.0.1", 5672) as proxy:
        conn = Connection(proxy.url(url), heartbeat=1)
        try:
            conn.connect()
            assert conn.get_heartbeat_interval() == 1
            proxy.pause()
            deadline = time.monotonic() + TIMEOUT
            with pytest.raises(conn.connection_errors):
                while time.monotonic() < deadline:
                    conn.heartbeat_check(rate=2)
                    time.sleep(0.1)
        finally:
            proxy.resume()
            proxy.cut()
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - the connection is dead by design
                pass
