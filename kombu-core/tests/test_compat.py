"""kombu.compat (the carrot API) on memory://."""

from __future__ import annotations

import pytest
from kombu import Connection
from kombu.compat import Consumer, ConsumerSet, Publisher
from kombu.utils.uuid import uuid


@pytest.fixture
def conn():
    with Connection("memory://") as connection:
        yield connection


def names():
    return f"carrot-q-{uuid()}", f"carrot-x-{uuid()}"


def test_publisher_send_then_consumer_fetch_round_trips(conn):
    queue, exchange = names()
    consumer = Consumer(conn, queue=queue, exchange=exchange, routing_key="importer")
    publisher = Publisher(conn, exchange=exchange, routing_key="importer")
    assert publisher.exchange.name == exchange and publisher.exchange.type == "direct"
    publisher.send({"import_feed": "http://cnn.com/rss/edition.rss"})
    message = consumer.fetch()
    assert message.payload == {"import_feed": "http://cnn.com/rss/edition.rss"}
    message.ack()
    assert consumer.fetch() is None
    publisher.close()
    consumer.close()
    assert publisher._closed and consumer._closed


def test_fetch_with_callbacks_and_no_ack(conn):
    queue, exchange = names()
    seen = []
    with Consumer(
        conn, queue=queue, exchange=exchange, routing_key="rk", callbacks=[lambda b, m: seen.append(b)]
    ) as consumer:
        with Publisher(conn, exchange=exchange, routing_key="rk") as publisher:
            publisher.send({"n": 1})
        consumer.fetch(no_ack=True, enable_callbacks=True)
    assert seen == [{"n": 1}]


def test_wait_and_iterconsume_dispatch_to_callbacks(conn):
    queue, exchange = names()
    seen = []
    consumer = Consumer(conn, queue=queue, exchange=exchange, routing_key="rk", exchange_type="direct")

    def on_message(body, message):
        seen.append(body)
        message.ack()

    consumer.register_callback(on_message)
    publisher = Publisher(conn, exchange=exchange, routing_key="rk")
    for i in range(3):
        publisher.send({"i": i})
    consumer.wait(limit=2)
    assert seen == [{"i": 0}, {"i": 1}]
    next(iter(consumer.iterconsume(limit=1)))
    assert seen == [{"i": 0}, {"i": 1}, {"i": 2}]
    consumer.close()


def test_iterqueue_and_discard_all(conn):
    queue, exchange = names()
    consumer = Consumer(conn, queue=queue, exchange=exchange, routing_key="rk")
    publisher = Publisher(conn, exchange=exchange, routing_key="rk")
    for i in range(4):
        publisher.send(i)
    first_two = list(consumer.iterqueue(limit=2))
    assert [m.payload for m in first_two] == [0, 1]
    for m in first_two:
        m.ack()
    assert consumer.discard_all() == 2
    assert list(consumer.iterqueue()) == []
    with pytest.raises(NotImplementedError):
        consumer.discard_all(filterfunc=lambda m: True)
    with pytest.raises(NotImplementedError):
        consumer.process_next()
    consumer.close()


def test_entity_options(conn):
    queue, exchange = names()
    consumer = Consumer(
        conn, queue=queue, exchange=exchange, routing_key="a.*", exchange_type="topic", durable=False, auto_delete=True
    )
    q = consumer.queues[0]
    assert q.name == queue and q.exchange.type == "topic" and not q.durable and q.auto_delete
    publisher = Publisher(conn, exchange=exchange, exchange_type="topic", durable=False, auto_delete=True)
    publisher.send("matched", routing_key="a.b")
    publisher.send("not matched", routing_key="b.c")
    assert [m.payload for m in consumer.iterqueue()] == ["matched"]
    consumer.close()


def test_consumer_set(conn):
    (q1, x1), (q2, x2) = names(), names()
    c1 = Consumer(conn, queue=q1, exchange=x1, routing_key="one")
    seen = []
    cset = ConsumerSet(
        conn, consumers=[c1], from_dict={q2: {"exchange": x2, "routing_key": "two", "exchange_type": "direct"}}
    )
    assert sorted(q.name for q in cset.queues) == sorted([q1, q2])

    def on_message(body, message):
        seen.append(body)
        message.ack()

    cset.register_callback(on_message)
    Publisher(conn, exchange=x1, routing_key="one").send("to one")
    Publisher(conn, exchange=x2, routing_key="two").send("to two")
    for _ in cset.iterconsume(limit=2):
        pass
    assert sorted(seen) == ["to one", "to two"]
    (q3, x3) = names()
    cset.add_consumer_from_dict(q3, exchange=x3, routing_key="three")
    assert q3 in [q.name for q in cset.queues]
    cset.close()
    c1.close()
