"""memory:// specifics beyond the conformance kit: priorities, the event loop, threads."""

from __future__ import annotations

import threading

import pytest
from kombu import Connection, Exchange, Queue
from kombu.asynchronous import Hub


def test_priority_queue_delivers_highest_first_fifo_within_level():
    queue = Queue("mem.prio", Exchange("mem.prio.ex"), "k", max_priority=9)
    with Connection("memory://") as conn:
        bound = queue(conn)
        bound.declare()
        producer = conn.Producer()
        for i, priority in enumerate([1, 9, 5, 9, 0]):
            producer.publish({"i": i, "p": priority}, exchange="mem.prio.ex", routing_key="k", priority=priority)
        order = []
        while (m := bound.get(no_ack=True)) is not None:
            order.append(m.payload["i"])
        assert order == [1, 3, 2, 0, 4]
        bound.delete()


def test_reject_requeue_goes_back_first_in_line():
    queue = Queue("mem.requeue")
    with Connection("memory://") as conn:
        bound = queue(conn)
        bound.declare()
        producer = conn.Producer()
        for i in range(3):
            producer.publish(i, routing_key="mem.requeue")
        first = bound.get()
        first.requeue()
        again = bound.get()
        assert again.payload == 0
        assert again.delivery_info["redelivered"] is True
        again.ack()
        bound.delete()


@pytest.mark.parametrize("max_priority", [None, 5], ids=["fifo", "priority"])
def test_requeue_into_a_queue_declared_again_keeps_both_messages(max_priority):
    """Positions restart with a queue declared again: a message held from the old queue and
    one from the new may share one, and both requeues must still land."""
    name = f"mem.declared-again.{max_priority}"
    queue = Queue(name, max_priority=max_priority)
    with Connection("memory://") as conn:
        bound = queue(conn)
        bound.declare()
        producer = conn.Producer()
        producer.publish("old", routing_key=name)
        old = bound.get()
        bound.delete()
        bound.declare()
        producer.publish("new", routing_key=name)
        new = bound.get()
        new.requeue()
        old.requeue()
        payloads = []
        while (m := bound.get(no_ack=True)) is not None:
            payloads.append(m.payload)
        assert sorted(payloads) == ["new", "old"]
        bound.delete()


def test_hub_drives_consumer_without_drain_events():
    queue = Queue("mem.hub")
    received = []
    hub = Hub()
    with Connection("memory://") as conn:
        assert conn.is_evented
        consumer = conn.Consumer(queue, callbacks=[lambda body, m: (received.append(body), m.ack())])
        consumer.consume()
        conn.register_with_event_loop(hub)
        producer = Connection("memory://").Producer()
        for i in range(5):
            producer.publish(i, routing_key="mem.hub")
        for _ in range(50):
            hub.run_once()
            if len(received) == 5:
                break
        assert received == [0, 1, 2, 3, 4]
        conn.transport.unregister_from_event_loop(conn.connection, hub)
        consumer.cancel()
    hub.close()


def test_producer_and_consumer_in_different_threads():
    queue = Queue("mem.threads")
    received = []
    with Connection("memory://") as conn:
        consumer = conn.Consumer(queue, callbacks=[lambda body, m: (received.append(body), m.ack())])
        consumer.consume()

        def produce():
            with Connection("memory://") as other:
                producer = other.Producer()
                for i in range(100):
                    producer.publish(i, routing_key="mem.threads")

        thread = threading.Thread(target=produce)
        thread.start()
        while len(received) < 100:
            conn.drain_events(timeout=5)
        thread.join()
        assert received == list(range(100))
        consumer.cancel()
