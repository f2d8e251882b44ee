"""kombu.simple on memory://."""

from __future__ import annotations

import threading

import pytest
from kombu import Connection, Exchange, Queue
from kombu.simple import SimpleBuffer, SimpleQueue
from kombu.utils.uuid import uuid


@pytest.fixture
def conn():
    with Connection("memory://") as connection:
        yield connection


def test_put_get_ack(conn):
    name = f"simple-{uuid()}"
    queue = conn.SimpleQueue(name, accept=["json", "pickle"])
    assert isinstance(queue, SimpleQueue)
    queue.put({"hello": "world"})
    queue.put("second", serializer="pickle")
    assert queue.qsize() == 2 and len(queue) == 2
    message = queue.get(block=True, timeout=5)
    assert message.payload == {"hello": "world"}
    message.ack()
    second = queue.get_nowait()
    assert second.payload == "second"
    second.ack()
    assert queue.qsize() == 0
    queue.close()


def test_get_raises_empty(conn):
    queue = conn.SimpleQueue(f"simple-{uuid()}")
    with pytest.raises(queue.Empty):
        queue.get_nowait()
    with pytest.raises(SimpleQueue.Empty):
        queue.get(block=False)
    with pytest.raises(queue.Empty):
        queue.get(timeout=0.01)
    queue.close()


def test_get_blocks_until_another_thread_puts(conn):
    name = f"simple-{uuid()}"
    queue = conn.SimpleQueue(name)
    ready = threading.Event()

    def producer():
        ready.wait()
        with Connection("memory://") as other, other.SimpleQueue(name) as q:
            q.put("from thread")

    thread = threading.Thread(target=producer)
    thread.start()
    queue._consume()
    ready.set()
    message = queue.get(timeout=30)
    thread.join()
    assert message.payload == "from thread"
    message.ack()
    queue.close()


def test_unacked_message_is_redelivered_after_close(conn):
    name = f"simple-{uuid()}"
    with Connection("memory://") as first:
        queue = first.SimpleQueue(name)
        queue.put("keep me")
        message = queue.get(timeout=5)
        assert message.payload == "keep me"
        queue.close()
    # the connection closed without acking: the message is back
    queue = conn.SimpleQueue(name)
    again = queue.get(timeout=5)
    assert again.payload == "keep me"
    again.ack()
    queue.close()


def test_clear(conn):
    queue = conn.SimpleQueue(f"simple-{uuid()}")
    for i in range(3):
        queue.put(i)
    assert queue.clear() == 3
    assert queue.qsize() == 0
    queue.close()


def test_with_queue_object_and_options(conn):
    name = f"simple-{uuid()}"
    exchange = Exchange(f"x-{uuid()}", "topic")
    q = Queue(name, exchange, "a.#")
    queue = conn.SimpleQueue(q, serializer="json")
    assert queue.queue.name == name and queue.producer.exchange.name == exchange.name
    queue.put({"x": 1}, routing_key="a.b")
    assert queue.get(timeout=5).payload == {"x": 1}
    queue.close()


def test_simple_buffer_needs_no_ack(conn):
    name = f"buffer-{uuid()}"
    buf = conn.SimpleBuffer(name)
    assert isinstance(buf, SimpleBuffer) and buf.no_ack
    assert buf.queue.auto_delete and not buf.queue.durable
    buf.put("transient")
    message = buf.get(timeout=5)
    assert message.payload == "transient"
    assert buf.qsize() == 0  # gone without an ack
    buf.close()


def test_simple_queue_on_a_channel(conn):
    channel = conn.channel()
    name = f"simple-{uuid()}"
    with SimpleQueue(channel, name) as queue:
        queue.put("on channel")
        message = queue.get(timeout=5)
        assert message.payload == "on channel"
        message.ack()


def test_pickle_is_refused_unless_accepted(conn):
    from kombu.exceptions import ContentDisallowed

    queue = conn.SimpleQueue(f"simple-{uuid()}")
    queue.put("pickled", serializer="pickle")
    queue.put("json")
    with pytest.raises(ContentDisallowed):
        queue.get(timeout=5)
    message = queue.get(timeout=5)  # the next message still arrives
    assert message.payload == "json"
    message.ack()
    queue.close()
