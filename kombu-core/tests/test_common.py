"""kombu.common on memory://."""

from __future__ import annotations

import socket

import pytest
from kombu import Connection, Exchange, Queue
from kombu.common import (
    PREFETCH_COUNT_MAX,
    Broadcast,
    QoS,
    collect_replies,
    drain_consumer,
    eventloop,
    ignore_errors,
    insured,
    itermessages,
    maybe_declare,
    oid_from,
    send_reply,
    uuid,
)
from kombu.exceptions import ChannelError, ConnectionError


@pytest.fixture
def conn():
    with Connection("memory://") as connection:
        yield connection


def unique(prefix: str = "common") -> str:
    return f"{prefix}-{uuid()}"


def test_broadcast_gives_every_consumer_a_copy(conn):
    name = unique("bcast")
    first, second = Broadcast(name), Broadcast(name)
    assert first.name != second.name and first.name.startswith("bcast.")
    assert first.exchange.type == "fanout" and first.exchange.name == name
    assert first.auto_delete and first.alias == name
    assert Broadcast(name, queue="q", unique=True).name.startswith("q.")
    assert Broadcast(name, queue="fixed").name == "fixed"
    import pickle

    assert pickle.loads(pickle.dumps(first)).name == first.name
    channel = conn.default_channel
    for queue in (first, second):
        queue(channel).declare()
    conn.Producer().publish({"to": "all"}, exchange=first.exchange)
    assert first(channel).get(no_ack=True).payload == {"to": "all"}
    assert second(channel).get(no_ack=True).payload == {"to": "all"}


def test_maybe_declare_caches_per_connection(conn):
    queue = Queue(unique(), Exchange(unique()), "rk")
    channel = conn.default_channel
    declared = []
    original = type(channel).queue_declare

    def counting(self, *args, **kwargs):
        declared.append(kwargs.get("queue") or (args[0] if args else None))
        return original(self, *args, **kwargs)

    type(channel).queue_declare = counting
    try:
        assert maybe_declare(queue, channel) is True
        assert maybe_declare(queue, channel) is False
        assert maybe_declare(queue(channel)) is False  # bound entity, no channel argument
        assert declared == [queue.name]
        with Connection("memory://") as other:  # another connection declares again
            assert maybe_declare(queue, other.default_channel) is True
        # not cacheable: declared every time
        transient = Queue(unique(), auto_delete=True)
        assert maybe_declare(transient, channel) is True
        assert maybe_declare(transient, channel) is True
    finally:
        type(channel).queue_declare = original


def test_maybe_declare_needs_a_channel(conn):
    with pytest.raises(ChannelError):
        maybe_declare(Queue(unique()))


def test_maybe_declare_with_retry(conn):
    queue = Queue(unique())
    assert maybe_declare(queue, conn.default_channel, retry=True, max_retries=1) is True
    assert maybe_declare(queue, conn.default_channel, retry=True) is False


def test_eventloop_and_itermessages(conn):
    queue = Queue(unique())
    channel = conn.default_channel
    queue(channel).declare()
    producer = conn.Producer()
    for i in range(3):
        producer.publish({"i": i}, routing_key=queue.name)
    received = [body for body, message in itermessages(conn, channel, queue, limit=3, timeout=1, no_ack=True)]
    assert received == [{"i": 0}, {"i": 1}, {"i": 2}]
    # nothing left: timeouts are ignored and the loop ends
    assert list(itermessages(conn, channel, queue, limit=2, timeout=0.01)) == []
    with pytest.raises(socket.timeout):
        next(eventloop(conn, limit=1, timeout=0.01))
    assert list(eventloop(conn, limit=2, timeout=0.01, ignore_timeouts=True)) == []


def test_drain_consumer_calls_callbacks(conn):
    queue = Queue(unique())
    channel = conn.default_channel
    queue(channel).declare()
    conn.Producer().publish("x", routing_key=queue.name)
    seen = []
    consumer = conn.Consumer([queue], no_ack=True, accept=["text/plain"])
    pairs = list(drain_consumer(consumer, limit=1, timeout=1, callbacks=[lambda body, message: seen.append(body)]))
    assert [body for body, _ in pairs] == ["x"] and seen == ["x"]


def test_send_reply_and_collect_replies(conn):
    requests = Queue(unique())
    reply_queue = Queue(unique(), Exchange(unique()), "reply-key")
    channel = conn.default_channel
    requests(channel).declare()
    reply_queue(channel).declare()
    conn.Producer().publish(
        {"question": 6},
        routing_key=requests.name,
        reply_to="reply-key",
        correlation_id="c-1",
        serializer="json",
    )
    request = requests(channel).get(no_ack=True)
    send_reply(reply_queue.exchange, request, {"answer": 42}, producer=conn.Producer())
    replies = list(collect_replies(conn, channel, reply_queue, limit=1, timeout=1))
    assert replies == [{"answer": 42}]


def test_ignore_errors(conn):
    def fail():
        raise ConnectionError("lost")

    assert ignore_errors(conn, fail) is None
    assert ignore_errors(conn, lambda x: x * 2, 21) == 42
    with ignore_errors(conn):
        raise ChannelError("channel gone")
    with pytest.raises(ValueError):
        ignore_errors(conn, int, "not a number")


def test_insured_retries_with_a_pooled_connection(conn):
    calls = []

    def publish_once(value, connection=None, channel=None):
        calls.append(connection)
        if len(calls) == 1:
            raise ConnectionError("first attempt fails")
        return value * 2

    errors = []
    result = insured(
        conn.Pool(limit=1),
        publish_once,
        (21,),
        {},
        errback=lambda exc, interval: errors.append(exc),
        interval_start=0,
        max_retries=2,
    )
    assert result == 42
    assert len(calls) == 2 and calls[0] is calls[1] and calls[0] is not conn
    assert len(errors) == 1


def test_oid_from_is_stable_per_object():
    a, b = object(), object()
    assert oid_from(a) == oid_from(a)
    assert oid_from(a) != oid_from(b)
    assert len(oid_from(a, threads=False)) == 36


def test_qos_increment_decrement_update():
    applied = []
    qos = QoS(lambda prefetch_count: applied.append(prefetch_count), 2)
    assert qos.increment_eventually() == 3
    assert qos.increment_eventually(2) == 5
    assert applied == []  # nothing applied until update
    assert qos.update() == 5 and applied == [5]
    assert qos.update() == 5 and applied == [5]  # unchanged: not applied again
    assert qos.decrement_eventually(10) == 1  # never below one
    qos.update()
    assert applied == [5, 1]
    unlimited = QoS(lambda prefetch_count: applied.append(prefetch_count), 0)
    assert unlimited.increment_eventually() == 0 and unlimited.decrement_eventually() == 0
    huge = QoS(lambda prefetch_count: applied.append(prefetch_count), PREFETCH_COUNT_MAX + 1)
    huge.update()
    assert applied[-1] == 0  # above the AMQP maximum: no limit
