"""Network faults between the client and SQS, through the kit's fault proxy.

SQS is HTTP: there is no session to lose, and moto closes the TCP connection after
every response (quirks.CONNECTION_CLOSE). What a fault means here: requests fail
while the network is down (a typed connection error, retried by ``ensure``), a
request cut midway is retried by botocore, and a consumer that cannot reach SQS
cannot renew its leases, so its messages go to others after the visibility timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.testing.proxy import FaultProxy

from .conftest import HOST, PORT, URL, boto_client, drain_until

FAST_FAIL = {"retries": {"max_attempts": 1}, "connect_timeout": 1, "read_timeout": 10}


@pytest.fixture
def queue() -> Iterator[Queue]:
    name = f"t-fault-{uuid.uuid4().hex[:10]}"
    yield Queue(name, Exchange(name + ".x", "direct"), routing_key=name)
    client = boto_client()
    try:
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
    except Exception:  # noqa: BLE001 - cleanup
        pass


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    p = FaultProxy(HOST, PORT).start()
    yield p
    p.stop()


def _declare(q: Queue, opts: dict[str, Any]) -> None:
    with Connection(URL, transport_options=opts) as conn:
        q(conn.channel()).declare()


def _receive(q: Queue, opts: dict[str, Any], timeout: float) -> list[Any]:
    got: list[Any] = []
    with Connection(URL, transport_options=opts) as conn:
        with Consumer(
            conn.channel(),
            [q],
            callbacks=[lambda b, m: (got.append((b, bool(m.delivery_info.get("redelivered")))), m.ack())],
        ):
            drain_until(conn, lambda: bool(got), timeout)
    return got


def test_unreachable_sqs_is_a_typed_connection_error(proxy: FaultProxy, queue: Queue) -> None:
    opts = {"wait_time_seconds": 1, "client-config": FAST_FAIL}
    _declare(queue, opts)
    conn = Connection(proxy.url(URL), transport_options=opts)
    try:
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: None])
        consumer.consume()
        proxy.stop()
        with pytest.raises(conn.connection_errors):
            for _ in range(10):
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
    finally:
        conn.release()


def test_consumer_cut_off_from_sqs_loses_its_lease(proxy: FaultProxy, queue: Queue) -> None:
    opts = {"visibility_timeout": 2, "wait_time_seconds": 1, "client-config": FAST_FAIL}
    _declare(queue, opts)
    with Connection(URL, transport_options=opts) as direct:
        Producer(direct.channel(), exchange=queue.exchange).publish("held", routing_key=queue.routing_key)
    cut_off = Connection(proxy.url(URL), transport_options=opts)
    try:
        got: list[Any] = []
        with Consumer(cut_off.channel(), [queue], callbacks=[lambda b, m: got.append(m)]):
            drain_until(cut_off, lambda: bool(got), 10)
            assert [m.payload for m in got] == ["held"]
            proxy.stop()  # the holder is alive but cannot renew its lease
            assert _receive(queue, opts, timeout=12) == [("held", True)]
    finally:
        cut_off.collect()  # drop it without talking to the unreachable endpoint


def test_ensure_retries_a_publish_until_sqs_is_back(proxy: FaultProxy, queue: Queue) -> None:
    opts = {"wait_time_seconds": 1, "client-config": FAST_FAIL}
    _declare(queue, opts)
    address = proxy.address
    conn = Connection(proxy.url(URL), transport_options=opts)
    back: list[FaultProxy] = []
    try:
        producer = Producer(conn.channel(), exchange=queue.exchange)
        producer.publish("before", routing_key=queue.routing_key)
        proxy.stop()

        def restart() -> None:
            time.sleep(1.5)
            back.append(FaultProxy(HOST, PORT, listen_port=address[1]).start())

        threading.Thread(target=restart, daemon=True).start()
        publish = conn.ensure(
            producer, producer.publish, max_retries=20, interval_start=0.2, interval_step=0.2, interval_max=0.5
        )
        publish("after", routing_key=queue.routing_key)
    finally:
        conn.release()
        for p in back:
            p.stop()
    bodies = [_receive(queue, opts, timeout=5), _receive(queue, opts, timeout=5)]
    assert sorted(b for got in bodies for b, _ in got) == ["after", "before"]


def test_long_poll_cut_midway_loses_nothing(proxy: FaultProxy, queue: Queue) -> None:
    """A long poll cut midway is retried by botocore. The server may still answer the
    dead poll with a message published meanwhile (as AWS may): that message is hidden
    until the visibility timeout, then delivered. Late, never lost."""
    opts = {"wait_time_seconds": 3, "visibility_timeout": 3}
    _declare(queue, opts)
    conn = Connection(proxy.url(URL), transport_options=opts)
    got: list[Any] = []
    errors: list[BaseException] = []

    def drain() -> None:
        deadline = time.monotonic() + 25
        while not got and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=2)
            except TimeoutError:
                pass
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
                return

    try:
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            worker = threading.Thread(target=drain, daemon=True)
            worker.start()
            deadline = time.monotonic() + 5
            while proxy.active == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proxy.cut(reset=True) >= 1, "no long poll was in flight through the proxy"
            with Connection(URL, transport_options=opts) as direct:
                Producer(direct.channel(), exchange=queue.exchange).publish("after-cut", routing_key=queue.routing_key)
            worker.join(30)
            assert not worker.is_alive()
    finally:
        conn.release()
    assert errors == [], "botocore did not retry the cut request"
    assert got == ["after-cut"]
