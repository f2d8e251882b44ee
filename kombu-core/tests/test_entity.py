"""Exchange, Queue and binding declarations."""

from __future__ import annotations

import pickle

import pytest
from kombu import Connection, Exchange, Queue, binding
from kombu.exceptions import NotBoundError


def test_calling_with_channel_returns_bound_copy():
    exchange = Exchange("e.bind", "topic")
    with Connection("memory://") as conn:
        bound = exchange(conn.default_channel)
        assert bound.is_bound and bound is not exchange
        assert not exchange.is_bound
        assert bound == exchange


def test_unbound_operation_raises():
    with pytest.raises(NotBoundError):
        Queue("q.unbound").declare()
    with pytest.raises(NotBoundError):
        Exchange("e.unbound").declare()


def test_pickle_round_trip():
    queue = Queue(
        "q.pickle",
        Exchange("e.pickle", "fanout", durable=False),
        routing_key="rk",
        message_ttl=5,
        max_priority=7,
        queue_arguments={"x-a": 1},
    )
    clone = pickle.loads(pickle.dumps(queue))
    assert clone == queue
    assert clone.exchange.type == "fanout" and clone.exchange.durable is False
    assert clone.message_ttl == 5 and clone.max_priority == 7


def test_queue_arguments_become_x_arguments():
    queue = Queue("q.args", message_ttl=1.5, expires=30, max_length=10, max_length_bytes=1000, max_priority=9)
    with Connection("memory://") as conn:
        args = conn.default_channel.prepare_queue_arguments(
            {"x-custom": True},
            expires=queue.expires,
            message_ttl=queue.message_ttl,
            max_length=queue.max_length,
            max_length_bytes=queue.max_length_bytes,
            max_priority=queue.max_priority,
        )
    assert args == {
        "x-custom": True,
        "x-message-ttl": 1500,
        "x-expires": 30000,
        "x-max-length": 10,
        "x-max-length-bytes": 1000,
        "x-max-priority": 9,
    }


def test_exclusive_implies_auto_delete():
    assert Queue("q.x", exclusive=True).auto_delete is True


def test_declare_get_purge_delete_on_memory():
    exchange = Exchange("e.ops", "direct")
    queue = Queue("q.ops", exchange, "k")
    with Connection("memory://") as conn:
        bound = queue(conn)
        bound.declare()
        producer = conn.Producer()
        for i in range(3):
            producer.publish({"i": i}, exchange=exchange, routing_key="k")
        assert bound.queue_declare(passive=True).message_count == 3
        message = bound.get()
        assert message.payload == {"i": 0}
        message.ack()
        assert bound.purge() == 2
        assert bound.get() is None
        bound.delete()


def test_binding_objects_declare_every_binding():
    exchange = Exchange("e.multi", "direct")
    queue = Queue("q.multi", bindings=[binding(exchange, "a"), binding(exchange, "b")])
    with Connection("memory://") as conn:
        queue(conn).declare()
        producer = conn.Producer()
        producer.publish("one", exchange=exchange, routing_key="a")
        producer.publish("two", exchange=exchange, routing_key="b")
        producer.publish("none", exchange=exchange, routing_key="c")
        bound = queue(conn)
        got = []
        while (m := bound.get(no_ack=True)) is not None:
            got.append(m.payload)
        assert got == ["one", "two"]
        bound.delete()


def test_unnamed_queue_gets_broker_name():
    with Connection("memory://") as conn:
        queue = Queue(exclusive=True)(conn)
        queue.declare()
        assert queue.name.startswith("amq.gen-")


def test_queue_from_dict_keeps_the_queue_options():
    from kombu import Queue

    q = Queue.from_dict(
        "q",
        exchange="x",
        routing_key="r",
        expires=10,
        message_ttl=5,
        max_priority=9,
        max_length=3,
        max_length_bytes=1024,
        alias="a",
    )
    assert (q.expires, q.message_ttl, q.max_priority, q.max_length, q.max_length_bytes, q.alias) == (
        10,
        5,
        9,
        3,
        1024,
        "a",
    )


def test_pickle_protocol_follows_the_environment(monkeypatch):
    import pickle

    import kombu.serialization as serialization

    monkeypatch.setenv("PICKLE_PROTOCOL", "2")
    assert serialization.pickle_protocol == 2
    monkeypatch.delenv("PICKLE_PROTOCOL")
    assert serialization.pickle_protocol == pickle.DEFAULT_PROTOCOL
