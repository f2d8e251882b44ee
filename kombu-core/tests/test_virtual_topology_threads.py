"""Threads declaring and binding the same exchange at once never lose a binding (memory://)."""

from __future__ import annotations

import sys
import threading
import uuid

from kombu import Connection, Exchange, Queue


def _declare(queue: Queue, barrier: threading.Barrier) -> None:
    with Connection("memory://") as conn:
        barrier.wait()
        queue(conn.channel()).declare()


def test_concurrent_declares_of_one_exchange_keep_every_binding() -> None:
    # Kombu 5 applications declare the same entities from several threads, each on its own
    # connection (a worker's pooled producer and the client's SimpleQueue, say). The
    # engine's check-then-insert of an exchange and its table update must not interleave.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(300):
            name = f"race-{uuid.uuid4().hex[:8]}"
            exchange = Exchange(name, "direct")
            queues = [Queue(f"{name}-{i}", exchange, routing_key=f"k{i}") for i in range(4)]
            barrier = threading.Barrier(4)

            threads = [threading.Thread(target=_declare, args=(q, barrier)) for q in queues]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with Connection("memory://") as conn:
                channel = conn.default_channel
                table = channel.get_table(name)
                assert sorted(q for _, _, q in table) == sorted(q.name for q in queues), table
                for i, queue in enumerate(queues):
                    producer = conn.Producer()
                    producer.publish({"n": i}, exchange=exchange, routing_key=f"k{i}")
                    message = queue(channel).get()
                    assert message is not None and message.payload == {"n": i}
                    message.ack()
                    queue(channel).delete()
    finally:
        sys.setswitchinterval(old)
