"""Publish, consume and acknowledge; consumers on several queues; ``get``; ``cancel``."""

from __future__ import annotations

import socket

import pytest

from ..base import ConformanceBase, Recorder
from .acks import assert_redelivered

__all__ = ("PublishConsumeConformance", "ConsumerConformance")


class PublishConsumeConformance(ConformanceBase):
    """A published message reaches its consumer once, and ``ack`` settles it."""

    def test_publish_consume_ack(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, {"hello": "world", "n": 1})
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            assert rec.bodies == [{"hello": "world", "n": 1}]
            message = rec.messages[0]
            assert not message.acknowledged
            message.ack()
            assert message.acknowledged
            self.watch(conn)
        assert len(rec) == 1, "the message was delivered more than once"

    def test_acked_message_is_gone_after_reconnect(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "once")
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert rec.bodies == ["once"]
        conn.release()
        other = self.connection()
        rec2 = Recorder(ack=True)
        with Consumer(other.default_channel, [queue], callbacks=[rec2]):
            self.watch(other)
        assert rec2.bodies == [], "an acknowledged message was delivered again"

    def test_ack_twice_raises_message_state_error(self) -> None:
        from kombu import Consumer
        from kombu.exceptions import MessageStateError

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "x")
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert len(rec) == 1
        rec.messages[0].ack()
        with pytest.raises(MessageStateError):
            rec.messages[0].ack()

    def test_many_messages_none_lost_none_duplicated(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(50):
            self.publish(conn, queue, {"i": i})
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 50, timeout=self.timeout * 2)
            self.watch(conn)
        got = [body["i"] for body in rec.bodies]
        assert sorted(got) == list(range(50))
        if self.fifo:
            assert got == list(range(50)), "messages of one queue came out of order"

    def test_default_exchange_routes_by_queue_name(self) -> None:
        from kombu import Consumer, Exchange

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, Exchange(""), "via-default", routing_key=queue.name)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert rec.bodies == ["via-default"]

    def test_drain_events_times_out_when_nothing_arrives(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.2)
        assert rec.bodies == []

    def test_delivery_info_names_exchange_and_routing_key(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "where")
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert len(rec) == 1
        info = rec.messages[0].delivery_info
        assert info["exchange"] == queue.exchange.name
        assert info["routing_key"] == queue.routing_key


class ConsumerConformance(ConformanceBase):
    """Consumers: several queues at once, ``Queue.get`` and ``cancel``."""

    def test_one_consumer_several_queues(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queues = [self.declared_queue(conn) for _ in range(3)]
        for i, queue in enumerate(queues):
            self.publish(conn, queue, {"from": i})
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, queues, callbacks=[rec]):
            self.collect(conn, rec, 3)
            self.watch(conn)
        assert sorted(body["from"] for body in rec.bodies) == [0, 1, 2]

    def test_add_queue_to_running_consumer(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        first = self.declared_queue(conn)
        second = self.queue()
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [first], callbacks=[rec]) as consumer:
            consumer.add_queue(second)
            consumer.consume()
            self.publish(conn, second, "second")
            self.publish(conn, first, "first")
            self.collect(conn, rec, 2)
        assert sorted(rec.bodies) == ["first", "second"]

    def test_drain_events_serves_every_channel(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        first = self.declared_queue(conn)
        second = self.declared_queue(conn)
        rec = Recorder(ack=True)
        with Consumer(conn.channel(), [first], callbacks=[rec]), Consumer(conn.channel(), [second], callbacks=[rec]):
            self.publish(conn, first, "on-channel-1")
            self.publish(conn, second, "on-channel-2")
            self.collect(conn, rec, 2)
        assert sorted(rec.bodies) == ["on-channel-1", "on-channel-2"]

    def test_queue_get(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        bound = queue(conn.default_channel)
        assert bound.get() is None
        self.publish(conn, queue, {"got": True})
        message = self.get_eventually(bound)
        assert message is not None
        assert message.payload == {"got": True}
        message.ack()
        assert bound.get() is None

    def test_queue_get_no_ack_settles_message(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "auto")
        message = self.get_eventually(queue(conn.default_channel), no_ack=True)
        assert message is not None and message.payload == "auto"
        conn.release()
        other = self.connection()
        assert queue(other.default_channel).get() is None

    def test_cancel_stops_delivery(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        rec = Recorder(ack=True)
        consumer = Consumer(conn.default_channel, [queue], callbacks=[rec])
        consumer.consume()
        self.publish(conn, queue, "before")
        self.collect(conn, rec, 1)
        assert rec.bodies == ["before"]
        consumer.cancel()
        self.publish(conn, queue, "after")
        self.watch(conn)
        assert rec.bodies == ["before"], "a cancelled consumer still received messages"
        message = self.get_eventually(queue(conn.default_channel))
        assert message is not None and message.payload == "after"
        message.ack()

    def test_on_message_replaces_callbacks(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        seen: list[object] = []

        def on_message(message: object) -> None:
            seen.append(message)
            message.ack()  # type: ignore[attr-defined]

        callback = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[callback], on_message=on_message):
            self.publish(conn, queue, [1, 2, 3])
            self.drain(conn, lambda: len(seen) >= 1)
        assert len(seen) == 1 and seen[0].payload == [1, 2, 3]  # type: ignore[attr-defined]
        assert callback.bodies == []

    def test_competing_consumers_each_message_once(self) -> None:
        from kombu import Consumer

        first = self.connection()
        second = self.connection()
        queue = self.declared_queue(first)
        recs = [Recorder(ack=True), Recorder(ack=True)]
        with (
            Consumer(first.default_channel, [queue], callbacks=[recs[0]], prefetch_count=1),
            Consumer(second.default_channel, [queue], callbacks=[recs[1]], prefetch_count=1),
        ):
            for i in range(20):
                self.publish(first, queue, i)

            def done() -> bool:
                return len(recs[0]) + len(recs[1]) >= 20

            for _ in range(400):
                if done():
                    break
                self.drain(first, done, timeout=0.05)
                self.drain(second, done, timeout=0.05)
            self.watch(first)
            self.watch(second)
        bodies = recs[0].bodies + recs[1].bodies
        assert sorted(bodies) == list(range(20)), "a message was lost or delivered twice"

    def test_recover_requeues_unacked(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "recover-me")
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]) as consumer:
            self.collect(conn, rec, 1)
            consumer.recover(requeue=True)
            self.collect(conn, rec, 2, timeout=self.redelivery_timeout)
            assert rec.bodies == ["recover-me", "recover-me"]
            assert_redelivered(rec.messages[1])
            rec.messages[1].ack()

    def test_queue_get_honours_accept(self) -> None:
        from kombu.exceptions import ContentDisallowed

        conn = self.connection()
        queue = self.declared_queue(conn)
        bound = queue(conn.default_channel)
        self.publish(conn, queue, {"p": 1}, serializer="pickle")
        self.publish(conn, queue, {"p": 2}, serializer="pickle")
        refused = self.get_eventually(bound, accept=["json"])
        assert refused is not None
        with pytest.raises(ContentDisallowed):
            refused.decode()
        refused.ack()
        accepted = self.get_eventually(bound, accept=["pickle"])
        assert accepted is not None and accepted.payload == {"p": 2}
        accepted.ack()
