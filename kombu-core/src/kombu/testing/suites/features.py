"""Capability-driven features: priorities, message TTL, queue expiry; purge and size.

A declared capability is tested for its behaviour; an undeclared one must
raise :class:`kombu.exceptions.CapabilityNotSupported` when used.
"""

from __future__ import annotations

import time

import pytest

from ..base import ConformanceBase, poll, requires

__all__ = (
    "PriorityConformance",
    "MessageTTLConformance",
    "QueueExpiresConformance",
    "PurgeSizeConformance",
)


class PriorityConformance(ConformanceBase):
    """Higher ``priority`` first, on a queue declared with ``max_priority``.

    Priorities 1, 5 and 9 are used: on virtual transports that group
    priorities in steps (Kombu's 0, 3, 6, 9) they still fall in different steps.
    """

    @requires("priorities")
    def test_higher_priority_delivered_first(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn, max_priority=10)
        for priority in (1, 9, 5, 1, 9):
            self.publish(conn, queue, {"p": priority}, priority=priority)
        got: list[int] = []
        bound = queue(conn.default_channel)
        poll(lambda: bool(_take(bound, got)), self.timeout)
        while _take(bound, got):
            pass
        assert got == [9, 9, 5, 1, 1], f"delivered in priority order {got}"

    @requires("priorities")
    def test_priority_with_consumer_and_prefetch_one(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn, max_priority=10)
        for priority in (1, 5, 9):
            self.publish(conn, queue, priority, priority=priority)
        order: list[int] = []

        def on_message(body: int, message: object) -> None:
            order.append(body)
            message.ack()  # type: ignore[attr-defined]

        with Consumer(conn.default_channel, [queue], callbacks=[on_message], prefetch_count=1):
            self.drain(conn, lambda: len(order) >= 3)
        assert order == [9, 5, 1]

    @requires("priorities")
    def test_requeued_message_keeps_its_priority(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn, max_priority=10)
        bound = queue(conn.default_channel)
        self.publish(conn, queue, {"p": 1}, priority=1)
        self.publish(conn, queue, {"p": 9}, priority=9)
        first = self.get_eventually(bound)
        assert first is not None and first.payload == {"p": 9}
        first.requeue()
        got: list[int] = []
        poll(lambda: bool(_take(bound, got)), self.redelivery_timeout)
        while _take(bound, got):
            pass
        assert got == [9, 1], f"after requeue delivered in order {got}"

    @requires("!priorities")
    def test_undeclared_priorities_raise_on_queue(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.queue(max_priority=10)
        with pytest.raises(CapabilityNotSupported):
            queue(conn.channel()).declare()

    @requires("!priorities")
    def test_undeclared_priorities_raise_on_publish(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.declared_queue(conn)
        with pytest.raises(CapabilityNotSupported):
            self.publish(conn, queue, "urgent", priority=9)


def _take(bound: object, into: list[int]) -> bool:
    message = bound.get()  # type: ignore[attr-defined]
    if message is None:
        return False
    into.append(message.payload["p"])
    message.ack()
    return True


class MessageTTLConformance(ConformanceBase):
    """An expired message is never delivered; an unexpired one still is."""

    @requires("message_ttl")
    def test_per_message_expiration(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "short", expiration=0.3)
        self.publish(conn, queue, "long", expiration=60)
        self.publish(conn, queue, "forever")
        time.sleep(1.0)
        got = [m.payload for m in self.get_all(conn, queue)]
        assert sorted(got) == ["forever", "long"], f"got {got}"

    @requires("message_ttl")
    def test_queue_message_ttl(self) -> None:
        conn = self.connection()
        # The fresh message has the queue's TTL too: long enough for a loaded machine to fetch it.
        queue = self.declared_queue(conn, message_ttl=1.5)
        self.publish(conn, queue, "expires")
        time.sleep(2.0)
        self.publish(conn, queue, "fresh")
        got = [m.payload for m in self.get_all(conn, queue)]
        assert got == ["fresh"]

    @requires("message_ttl")
    def test_expired_message_is_not_delivered_to_a_consumer(self) -> None:
        from kombu import Consumer

        from ..base import Recorder

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "stale", expiration=0.2)
        time.sleep(0.6)
        self.publish(conn, queue, "fresh", expiration=60)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            self.watch(conn)
        assert rec.bodies == ["fresh"]

    @requires("message_ttl")
    def test_shorter_of_message_and_queue_ttl_wins(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn, message_ttl=60)
        self.publish(conn, queue, "short", expiration=0.2)
        self.publish(conn, queue, "queue ttl")
        time.sleep(0.6)
        got = [m.payload for m in self.get_all(conn, queue)]
        assert got == ["queue ttl"]

    @requires("message_ttl")
    def test_unexpired_message_keeps_its_ttl_property(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "ttl", expiration=30)
        message = self.get_eventually(queue(conn.default_channel))
        assert message is not None and message.payload == "ttl"
        assert str(message.properties.get("expiration")) == "30000"
        message.ack()

    @requires("!message_ttl")
    def test_undeclared_message_ttl_raises_on_queue(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.queue(message_ttl=1.0)
        with pytest.raises(CapabilityNotSupported):
            queue(conn.channel()).declare()

    @requires("!message_ttl")
    def test_undeclared_message_ttl_raises_on_publish(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.declared_queue(conn)
        with pytest.raises(CapabilityNotSupported):
            self.publish(conn, queue, "expiring", expiration=10)


class QueueExpiresConformance(ConformanceBase):
    """``Queue(expires=...)`` deletes an unused queue."""

    @requires("queue_expires")
    def test_unused_queue_expires(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn, expires=0.5)

        def gone() -> bool:
            channel = conn.channel()
            try:
                queue(channel).queue_declare(passive=True)
            except conn.channel_errors:
                return True
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - the broker may have closed it
                    pass
            return False

        # A passive declare counts as use on some brokers (RabbitMQ), so look
        # less often than the queue's expiry.
        assert poll(gone, timeout=max(self.timeout, 3.0), interval=1.0)

    @requires("queue_expires")
    def test_consumed_queue_does_not_expire(self) -> None:
        from kombu import Consumer

        from ..base import Recorder

        conn = self.connection()
        queue = self.declared_queue(conn, expires=0.5)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.watch(conn, 2.0)
            self.publish(conn, queue, "still here")
            self.collect(conn, rec, 1)
        assert rec.bodies == ["still here"], "a queue with a consumer expired"

    @requires("!queue_expires")
    def test_undeclared_queue_expires_raises(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.queue(expires=10.0)
        with pytest.raises(CapabilityNotSupported):
            queue(conn.channel()).declare()


class PurgeSizeConformance(ConformanceBase):
    """``queue_declare(passive=True)`` counts ready messages; ``purge`` empties and counts."""

    def test_message_count_and_purge(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        bound = queue(conn.default_channel)
        assert bound.queue_declare(passive=True).message_count == 0
        for i in range(3):
            self.publish(conn, queue, i)
        assert poll(lambda: bound.queue_declare(passive=True).message_count == 3, self.timeout)
        assert bound.purge() == 3
        assert bound.queue_declare(passive=True).message_count == 0
        assert bound.get() is None

    def test_message_count_excludes_unacked(self) -> None:
        from kombu import Consumer

        from ..base import Recorder

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(3):
            self.publish(conn, queue, i)
        rec = Recorder()
        with Consumer(conn.channel(), [queue], callbacks=[rec], prefetch_count=1):
            self.collect(conn, rec, 1)
            assert len(rec) == 1
            bound = queue(conn.default_channel)
            assert poll(lambda: bound.queue_declare(passive=True).message_count == 2, self.timeout), (
                "message_count must count ready messages only"
            )
            rec.messages[0].ack()

    def test_purge_of_empty_queue_returns_zero(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        assert queue(conn.default_channel).purge() == 0

    def test_purge_leaves_other_queues(self) -> None:
        conn = self.connection()
        first = self.declared_queue(conn)
        second = self.declared_queue(conn)
        self.publish(conn, first, "a")
        self.publish(conn, second, "b")
        channel = conn.default_channel
        assert poll(lambda: second(channel).queue_declare(passive=True).message_count == 1, self.timeout)
        assert first(channel).purge() == 1
        assert second(channel).queue_declare(passive=True).message_count == 1
