"""Surviving a beanstalkd restart: the binlog (``-b``) keeps jobs, ``ensure`` retries, consumers resume.

Each test owns a private beanstalkd with a binlog directory and kills it with
SIGKILL; the shared server is never touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Queue

from .server import PrivateBeanstalkd

RETRY = {"max_retries": 30, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


@pytest.fixture()
def server(tmp_path: Path, private_beanstalkd: PrivateBeanstalkd) -> Iterator[PrivateBeanstalkd]:
    # private_beanstalkd: the same "is beanstalkd installed" check (skip / fail under CI).
    own = PrivateBeanstalkd(binlog=tmp_path / "binlog").start()
    try:
        yield own
    finally:
        own.stop()


def queue_named(name: str) -> Queue:
    return Queue(name, Exchange(name, "direct"), routing_key=name)


def restart_later(server: PrivateBeanstalkd, down_for: float) -> threading.Thread:
    def run() -> None:
        server.stop(kill=True)
        time.sleep(down_for)
        server.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_jobs_survive_a_restart_with_binlog(server: PrivateBeanstalkd) -> None:
    queue = queue_named("durable")
    with Connection(server.url) as conn:
        producer = conn.Producer()
        for i in range(20):
            producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        held = queue(conn.default_channel).get()  # reserved, not acked, when the server dies
        assert held is not None
    server.restart()
    with Connection(server.url) as conn:
        queue(conn.default_channel).declare()
        got = []
        while (message := queue(conn.default_channel).get()) is not None:
            got.append(message.payload)
            message.ack()
    assert sorted(got) == list(range(20)), "messages lost across a beanstalkd restart"


@pytest.mark.parametrize("window", [64, 0])
def test_ensure_publishes_across_a_restart(server: PrivateBeanstalkd, window: int) -> None:
    """Nothing published is lost, nothing doubled: an isolated publish is confirmed when it returns."""
    queue = queue_named(f"ensured{window}")
    options = {"socket_timeout": 5, "publish_window": window}
    with Connection(server.url, transport_options=options) as conn:
        producer = conn.Producer()
        producer.publish("before", exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        restart_later(server, down_for=1.0).join(15)
        publish = conn.ensure(producer, producer.publish, **RETRY)
        publish("after", exchange=queue.exchange, routing_key=queue.routing_key)
    with Connection(server.url) as conn:
        got = []
        while (message := queue(conn.default_channel).get()) is not None:
            got.append(message.payload)
            message.ack()
    assert got == ["before", "after"]


def test_burst_published_before_a_restart_is_not_lost(server: PrivateBeanstalkd) -> None:
    """A burst's last puts return unconfirmed; after a restart they are re-sent (maybe twice)."""
    queue = queue_named("burst")
    with Connection(server.url, transport_options={"socket_timeout": 5}) as conn:
        producer = conn.Producer()
        producer.publish(-1, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        for i in range(200):
            producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
        restart_later(server, down_for=0.5).join(15)
        publish = conn.ensure(producer, producer.publish, **RETRY)
        publish(200, exchange=queue.exchange, routing_key=queue.routing_key)
    with Connection(server.url) as conn:
        got = set()
        while (message := queue(conn.default_channel).get()) is not None:
            got.add(message.payload)
            message.ack()
    assert got == set(range(-1, 201)), f"lost {sorted(set(range(-1, 201)) - got)}"


def test_consumer_resumes_after_a_restart(server: PrivateBeanstalkd) -> None:
    queue = queue_named("resumed")
    total = 10
    with Connection(server.url) as producer_conn:
        producer = producer_conn.Producer()
        for i in range(total // 2):
            producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])

    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append(body)
        message.ack()

    with Connection(server.url, transport_options={"socket_timeout": 5}) as conn:
        consumer = Consumer(conn.default_channel, [queue], callbacks=[on_message])
        consumer.consume()

        def drain_once() -> None:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                pass

        drain = conn.ensure(consumer, drain_once, on_revive=lambda channel: consumer.consume(), **RETRY)
        deadline = time.monotonic() + 30
        while len(got) < total // 2 and time.monotonic() < deadline:
            drain()
        restarter = restart_later(server, down_for=1.0)
        restarter.join(15)
        with Connection(server.url) as producer_conn:
            second = producer_conn.Producer()
            publish = producer_conn.ensure(second, second.publish, **RETRY)
            for i in range(total // 2, total):
                publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
        while len(got) < total and time.monotonic() < deadline:
            drain()
    assert sorted(got) == list(range(total)), f"got {sorted(got)}"
