"""Producer.batch / supports_batch_publish (Kombu 5.7's API) on memory://.

memory:// has no transport batches: inside ``batch()`` every publish is sent
at once, exactly as outside. RabbitMQ's batches are tested in
kombu-transport-amqp/tests/test_batch.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Connection, Queue
from kombu.utils.uuid import uuid


def _count(conn: Connection, queue: Queue) -> int:
    return queue(conn.default_channel).queue_declare(passive=True).message_count


def test_memory_does_not_support_batches_and_publishes_at_once() -> None:
    queue = Queue(f"batch-{uuid()}")
    with Connection("memory://") as conn:
        queue(conn.default_channel).declare()
        producer = conn.Producer()
        assert producer.supports_batch_publish is False
        with producer.batch() as batch:
            producer.publish({"n": 1}, routing_key=queue.name)
            assert _count(conn, queue) == 1
            with producer.batch():  # nested: shares the outer batch
                producer.publish({"n": 2}, routing_key=queue.name)
            batch.flush()
        assert _count(conn, queue) == 2


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "10"])
def test_max_size_must_be_a_positive_int(size: Any) -> None:
    with Connection("memory://") as conn:
        with pytest.raises(ValueError):
            conn.Producer().batch(max_size=size)


def test_a_batch_context_is_entered_once_and_flushes_only_inside() -> None:
    with Connection("memory://") as conn:
        producer = conn.Producer()
        batch = producer.batch()
        with pytest.raises(RuntimeError):
            batch.flush()
        with batch:
            pass
        with pytest.raises(RuntimeError):
            with batch:
                pass


def test_an_error_inside_the_batch_propagates_and_the_next_batch_works() -> None:
    queue = Queue(f"batch-{uuid()}")
    with Connection("memory://") as conn:
        queue(conn.default_channel).declare()
        producer = conn.Producer()
        with pytest.raises(KeyError):
            with producer.batch():
                raise KeyError("app error")
        with producer.batch():
            producer.publish({"n": 1}, routing_key=queue.name)
        assert _count(conn, queue) == 1
