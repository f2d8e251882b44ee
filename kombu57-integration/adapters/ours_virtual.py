"""``common.py``'s priority tests in the form Kombu 5.7 gives them for virtual transports.

``BasePriority.test_publish_consume`` and ``test_publish_requeue_consume`` call
``drain_events()`` once and expect every ready message: the behaviour of a broker
that pushes (AMQP). A virtual transport delivers one message per
``drain_events()`` call, in Kombu 5 as here, and Kombu's own modules for its
virtual transports (``test_redis.py``, ``test_mongodb.py``) override these two
tests to drain once per message. Kombu 5.7 has no module for memory://,
couchdb:// or beanstalk://; their adapters use this class, which keeps the
generic tests' messages, priorities (``PRIORITY_ORDER``) and expected order and
drains once per expected message, so it also checks that a drain delivers
exactly one (a transport delivering several would time out on a later drain).
"""

from __future__ import annotations

from time import sleep
from typing import Any

import kombu

from .common import BasePriority


class VirtualPriority(BasePriority):
    """BasePriority with one ``drain_events()`` per expected message."""

    def _levels(self) -> tuple[int, int, int]:
        """(highest, high, low) priority values in this transport's order."""
        return (9, 6, 3) if self.PRIORITY_ORDER == "asc" else (0, 3, 6)

    @staticmethod
    def _send(producer: kombu.Producer, queue: kombu.Queue, body: dict[str, str], priority: int) -> None:
        producer.publish(
            body,
            retry=True,
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            declare=[queue],
            serializer="pickle",
            priority=priority,
        )

    def _publish_three(self, producer: kombu.Producer, queue: kombu.Queue) -> None:
        _, high, low = self._levels()
        for name, priority in (("first", low), ("second", high), ("third", low)):
            self._send(producer, queue, {"msg": name}, priority)
        sleep(0.5)  # as the generic test: let the broker order the queue

    @staticmethod
    def _drain(conn: kombu.Connection, consumer: kombu.Consumer, times: int) -> None:
        with consumer:
            for _ in range(times):
                conn.drain_events(timeout=1)

    def test_publish_consume(self, connection: kombu.Connection) -> None:
        queue = kombu.Queue("priority_test", routing_key="priority_test", max_priority=10)
        bodies: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            bodies.append(body)
            message.ack()

        with connection as conn, conn.channel() as channel:
            self._publish_three(kombu.Producer(channel), queue)
            consumer = kombu.Consumer(conn, [queue], accept=["pickle"], callbacks=[on_message])
            self._drain(conn, consumer, 3)
        assert bodies == [{"msg": "second"}, {"msg": "first"}, {"msg": "third"}]

    def test_publish_requeue_consume(self, connection: kombu.Connection) -> None:
        queue = kombu.Queue("priority_requeue_test", routing_key="priority_requeue_test", max_priority=10)
        held: list[Any] = []
        bodies: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            held.append(message)  # not acked: requeued below
            bodies.append(body)

        with connection as conn, conn.channel() as channel:
            producer = kombu.Producer(channel)
            self._publish_three(producer, queue)
            consumer = kombu.Consumer(conn, [queue], accept=["pickle"], callbacks=[on_message])
            self._drain(conn, consumer, 3)
            for message in held:
                message.requeue()
            held.clear()
            bodies.clear()
            self._send(producer, queue, {"msg": "fourth"}, self._levels()[0])
            sleep(0.5)
            self._drain(conn, consumer, 4)
        assert bodies == [{"msg": "fourth"}, {"msg": "second"}, {"msg": "first"}, {"msg": "third"}]
