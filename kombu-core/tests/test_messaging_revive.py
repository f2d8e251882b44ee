"""Consumer.revive resumes exactly the queues that were consuming (memory://)."""

from __future__ import annotations

from typing import Any

from kombu import Connection, Consumer, Queue
from kombu.utils.uuid import uuid


def test_revive_resumes_only_queues_that_were_consuming() -> None:
    active, idle, dropped = (Queue(f"revive-{n}-{uuid()}") for n in ("active", "idle", "dropped"))
    got: list[Any] = []
    with Connection("memory://") as conn:
        consumer = Consumer(
            conn.channel(), [active, dropped], callbacks=[lambda body, message: (got.append(body), message.ack())]
        )
        consumer.consume()
        consumer.add_queue(idle)
        consumer.cancel_by_queue(dropped.name)
        assert consumer.consuming_from(active.name)
        consumer.revive(conn.channel())
        assert consumer.consuming_from(active.name)
        assert not consumer.consuming_from(idle.name)
        assert not consumer.consuming_from(dropped.name)
        producer = conn.Producer()
        producer.publish({"q": "idle"}, routing_key=idle.name)
        producer.publish({"q": "active"}, routing_key=active.name)
        conn.drain_events(timeout=2)
        assert got == [{"q": "active"}]
        consumer.cancel()


def test_revive_keeps_no_ack_per_queue() -> None:
    queue = Queue(f"revive-noack-{uuid()}")
    with Connection("memory://") as conn:
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda body, message: None])
        consumer.consume(no_ack=True)
        channel = conn.channel()
        consumer.revive(channel)
        tag = consumer._active_tags[queue.name]
        assert tag in channel.no_ack_consumers
        consumer.cancel()


def test_revive_after_cancel_consumes_nothing() -> None:
    queue = Queue(f"revive-cancelled-{uuid()}")
    with Connection("memory://") as conn:
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda body, message: None])
        consumer.consume()
        consumer.cancel()
        consumer.revive(conn.channel())
        assert not consumer.consuming_from(queue.name)
