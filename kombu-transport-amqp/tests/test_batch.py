"""``Producer.batch`` on RabbitMQ: ``amqp://`` holds publishes and sends them together.

pika:// has no transport batch (each publish is sent at once inside the
context too); with publisher confirms amqp:// does not batch either.
"""

from __future__ import annotations

import time

import pytest
from kombu import Connection, Queue

from .conftest import AMQP_URL, PIKA_URL, fresh


def _count(conn: Connection, queue: Queue, want: int | None = None) -> int:
    deadline = time.monotonic() + 10
    while True:
        count = queue(conn.channel()).queue_declare(passive=True).message_count
        if want is None or count == want or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.fixture
def queue(names: list[str]) -> Queue:
    queue = Queue(fresh(names), routing_key="k", durable=False, auto_delete=False)
    with Connection(AMQP_URL) as conn:
        queue(conn.channel()).declare()
    return queue


def test_amqp_batch_is_sent_on_exit_and_every_max_size(queue: Queue) -> None:
    with Connection(AMQP_URL) as conn, Connection(AMQP_URL) as admin:
        producer = conn.Producer()
        assert producer.supports_batch_publish is True
        with producer.batch(max_size=5) as batch:
            for n in range(3):
                producer.publish({"n": n}, routing_key=queue.name)
            time.sleep(0.3)
            assert _count(admin, queue) == 0  # held in this process
            for n in range(3, 7):
                producer.publish({"n": n}, routing_key=queue.name)
            assert _count(admin, queue, want=5) == 5  # the 5th publish flushed
            batch.flush()
            assert _count(admin, queue, want=7) == 7
            producer.publish({"n": 7}, routing_key=queue.name)
        assert _count(admin, queue, want=8) == 8


def test_amqp_batch_left_with_an_error_sends_nothing_unflushed(queue: Queue) -> None:
    with Connection(AMQP_URL) as conn, Connection(AMQP_URL) as admin:
        producer = conn.Producer()
        with pytest.raises(ZeroDivisionError):
            with producer.batch():
                producer.publish({"n": 1}, routing_key=queue.name)
                with producer.batch():  # nested: the error discards the shared batch
                    producer.publish({"n": 2}, routing_key=queue.name)
                    1 / 0  # noqa: B018
        producer.publish({"n": 3}, routing_key=queue.name)
        assert _count(admin, queue, want=1) == 1
        message = queue(admin.channel()).get(no_ack=True)
        assert message is not None and message.decode() == {"n": 3}


def test_amqp_with_confirms_and_pika_publish_at_once(queue: Queue) -> None:
    for url, options in ((AMQP_URL, {"confirm_publish": True}), (PIKA_URL, {})):
        with Connection(url, transport_options=options) as conn, Connection(AMQP_URL) as admin:
            producer = conn.Producer()
            before = _count(admin, queue)
            producer.publish({"warm": 1}, routing_key=queue.name)  # the channel exists now
            assert producer.supports_batch_publish is False
            with producer.batch():
                producer.publish({"n": 1}, routing_key=queue.name)
                assert _count(admin, queue, want=before + 2) == before + 2
