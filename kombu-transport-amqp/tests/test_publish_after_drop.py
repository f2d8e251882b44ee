"""A publish made after the connection silently died is not lost.

An idle producer's connection is closed by RabbitMQ (``rabbitmqctl
close_connection`` on this test's own connection) or cut by the kit's fault
proxy; then ``publish(retry=True)`` is called ten times. Every message must
be on the broker afterwards: the transport notices the close before writing
and ``retry`` re-publishes on a new connection.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kombu import Connection, Producer, Queue
from kombu.testing.proxy import FaultProxy

from .conftest import fresh
from .test_recovery import close_named

COUNT = 10


def _bodies_on(conn: Connection, queue: Queue) -> list[Any]:
    channel = conn.channel()
    got = []
    try:
        while True:
            raw = channel.basic_get(queue.name, no_ack=True)
            if raw is None:
                return got
            got.append(channel.message_to_python(raw).decode()["n"])
    finally:
        channel.close()


@pytest.mark.parametrize("fault", ["broker-close", "cut", "cut-reset"])
def test_publish_after_idle_drop_loses_nothing(url: str, names: list[str], fault: str) -> None:
    queue = Queue(fresh(names), routing_key="k", durable=False, auto_delete=False)
    name = f"amqp-tests-{uuid.uuid4().hex[:8]}"
    with Connection(url) as admin, FaultProxy("127.0.0.1", 5672) as proxy:
        queue(admin.default_channel).declare()
        target = url if fault == "broker-close" else proxy.url(url)
        conn = Connection(target, transport_options={"client_properties": {"connection_name": name}})
        try:
            producer = Producer(conn, routing_key=queue.name)
            producer.publish({"n": -1}, retry=True)
            time.sleep(0.5)  # idle: the first publish has reached the broker
            if fault == "broker-close":
                assert close_named(name) >= 1
            else:
                assert proxy.cut(reset=fault == "cut-reset") >= 1
            time.sleep(0.5)  # the close/FIN has reached the client
            policy = {"max_retries": 5, "interval_start": 0, "interval_step": 0.2, "interval_max": 1}
            for n in range(COUNT):
                producer.publish({"n": n}, retry=True, retry_policy=policy)
            deadline = time.monotonic() + 10
            got: list[Any] = []
            while time.monotonic() < deadline:
                got += _bodies_on(admin, queue)
                if set(got) >= set(range(-1, COUNT)):
                    break
                time.sleep(0.1)
            assert sorted(set(got)) == list(range(-1, COUNT)), f"missing: {set(range(-1, COUNT)) - set(got)}"
        finally:
            conn.release()


def test_unconfirmed_window_is_resent_after_a_cut_mid_stream(url: str, names: list[str]) -> None:
    """Publishing without pause while the proxy cuts: every number arrives (duplicates allowed)."""
    from .conftest import AMQP_URL

    total = 3000
    queue = Queue(fresh(names), routing_key="k", durable=False, auto_delete=False)
    with Connection(AMQP_URL) as admin, FaultProxy("127.0.0.1", 5672) as proxy:
        queue(admin.default_channel).declare()
        conn = Connection(proxy.url(url), transport_options={"confirm_window": 65536})
        policy = {"max_retries": 10, "interval_start": 0, "interval_step": 0.2, "interval_max": 1}
        try:
            producer = Producer(conn, routing_key=queue.name)
            for n in range(total):
                if n == total // 2:
                    assert proxy.cut() >= 1  # the publishes just written may be in flight
                producer.publish({"n": n}, retry=True, retry_policy=policy)
        finally:
            conn.release()  # waits for the last confirms
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while set(got) != set(range(total)) and time.monotonic() < deadline:
            got += _bodies_on(admin, queue)
            time.sleep(0.1)
        assert sorted(set(got)) == list(range(total)), f"lost: {len(set(range(total)) - set(got))}"


@pytest.mark.nobroker
def test_confirm_window_bookkeeping() -> None:
    from kombu_transport_amqp._confirms import ConfirmWindow

    window = ConfirmWindow()
    for n in range(1, 7):
        window.sent(("m", "", str(n), False, False), 10)
    assert len(window) == 6 and window.size == 60
    assert window.confirm(2, multiple=True) == 2  # 1, 2
    assert window.confirm(4, multiple=False) == 0  # early: 3 still open
    assert window.confirm(3, multiple=False) == 2  # 3 and the early 4
    assert window.confirm(6, multiple=False, nack=True) == 0
    assert [entry[2] for entry in window.take()] == ["5", "6"]
    assert window.size == 0 and not window.early
    window.reset()
    window.sent(("m", "", "a", False, False), 5)
    assert window.confirm(1, multiple=True, nack=True) == 1 and window.nacked == 1


def test_pika_confirm_window_is_on_by_default() -> None:
    """At-least-once publishing is pika://'s default too (speed never weakens it)."""
    from kombu import Connection

    from .conftest import URLS

    with Connection(URLS["pika"]) as conn:
        conn.connect()
        assert conn.connection.confirm_window == 65536
    with Connection(URLS["pika"], transport_options={"confirm_window": 0}) as conn:
        conn.connect()
        assert conn.connection.confirm_window == 0
