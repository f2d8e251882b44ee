"""Reject, requeue, redelivery of unacknowledged messages, and prefetch (QoS)."""

from __future__ import annotations

from typing import Any

from ..base import ConformanceBase, Recorder

__all__ = (
    "AcknowledgementConformance",
    "PrefetchConformance",
    "RedeliveryIntegrityConformance",
    "assert_redelivered",
)


def assert_redelivered(message: Any) -> None:
    """Where the transport reports redelivery, a redelivered message must say so.

    AMQP always sets ``delivery_info['redelivered']``; virtual transports may
    leave the key out. When the key is present it must be true.
    """
    info = message.delivery_info or {}
    if "redelivered" in info:
        assert info["redelivered"], f"redelivered message has {info!r}"


class AcknowledgementConformance(ConformanceBase):
    """``reject`` drops, ``requeue`` redelivers, and nothing unacked is lost on close."""

    def test_reject_drops_message(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "bad")
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            assert rec.bodies == ["bad"]
            rec.messages[0].reject()
            assert rec.messages[0].acknowledged
            self.watch(conn)
        assert rec.bodies == ["bad"], "a rejected message was delivered again"
        conn.release()
        other = self.connection()
        assert queue(other.default_channel).get() is None

    def test_requeue_redelivers(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, {"try": 1})
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            rec.messages[0].requeue()
            self.collect(conn, rec, 2, timeout=self.redelivery_timeout)
            assert rec.bodies == [{"try": 1}, {"try": 1}]
            assert_redelivered(rec.messages[1])
            rec.messages[1].ack()
            self.watch(conn)
        assert len(rec) == 2

    def test_reject_with_requeue_redelivers(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "again")
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            rec.messages[0].reject(requeue=True)
            self.collect(conn, rec, 2, timeout=self.redelivery_timeout)
            assert rec.bodies == ["again", "again"]
            assert_redelivered(rec.messages[1])
            rec.messages[1].ack()

    def test_unacked_message_redelivered_after_connection_closed(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, {"precious": True})
        rec = Recorder()
        consumer = Consumer(conn.default_channel, [queue], callbacks=[rec])
        consumer.consume()
        self.collect(conn, rec, 1)
        assert rec.bodies == [{"precious": True}]
        conn.release()  # dies without acking

        other = self.connection()
        rec2 = Recorder(ack=True)
        with Consumer(other.default_channel, [queue], callbacks=[rec2]):
            self.collect(other, rec2, 1, timeout=self.redelivery_timeout)
        assert rec2.bodies == [{"precious": True}], "an unacked message was lost on close"
        assert_redelivered(rec2.messages[0])

    def test_only_unacked_messages_redelivered_after_close(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(4):
            self.publish(conn, queue, i)
        rec = Recorder()
        consumer = Consumer(conn.default_channel, [queue], callbacks=[rec])
        consumer.consume()
        self.collect(conn, rec, 4)
        assert sorted(rec.bodies) == [0, 1, 2, 3]
        for message in rec.messages:
            if message.payload % 2 == 0:
                message.ack()
        conn.release()

        other = self.connection()
        rec2 = Recorder(ack=True)
        with Consumer(other.default_channel, [queue], callbacks=[rec2]):
            self.collect(other, rec2, 2, timeout=self.redelivery_timeout)
            self.watch(other)
        assert sorted(rec2.bodies) == [1, 3]


class PrefetchConformance(ConformanceBase):
    """``prefetch_count=N`` holds at most N unacknowledged deliveries."""

    def test_prefetch_limits_unacked_deliveries(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(6):
            self.publish(conn, queue, i)
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec], prefetch_count=2):
            self.collect(conn, rec, 2)
            self.watch(conn)
            assert len(rec) == 2, f"prefetch_count=2 but {len(rec)} unacked deliveries"
            rec.messages[0].ack()
            self.collect(conn, rec, 3)
            self.watch(conn)
            assert len(rec) == 3, "acking one message must let exactly one more through"
            rec.ack = True  # from here on, ack on receipt
            for message in rec.messages[1:]:
                message.ack()
            self.collect(conn, rec, 6)
        assert sorted(rec.bodies) == list(range(6))

    def test_qos_before_consume_limits_deliveries(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(5):
            self.publish(conn, queue, i)
        rec = Recorder()
        consumer = Consumer(conn.default_channel, [queue], callbacks=[rec])
        consumer.qos(prefetch_count=3)
        consumer.consume()
        try:
            self.collect(conn, rec, 3)
            self.watch(conn)
            assert len(rec) == 3, f"qos(prefetch_count=3) but {len(rec)} unacked deliveries"
            rec.ack = True
            for message in rec.messages:
                message.ack()
            self.collect(conn, rec, 5)
        finally:
            consumer.cancel()
        assert sorted(rec.bodies) == list(range(5))

    def test_no_ack_consumer_gets_everything_and_nothing_returns(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(3):
            self.publish(conn, queue, i)
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec], no_ack=True):
            self.collect(conn, rec, 3)
        assert sorted(rec.bodies) == [0, 1, 2]
        conn.release()
        other = self.connection()
        assert queue(other.default_channel).get() is None


class RedeliveryIntegrityConformance(ConformanceBase):
    """A redelivered message is the same message: body, headers and properties intact."""

    def _check_same(self, first: Any, again: Any) -> None:
        assert again.body == first.body
        assert again.content_type == first.content_type
        assert again.content_encoding == first.content_encoding
        # Kombu 5's Redis transport marks restored messages with a
        # ``redelivered`` header; that one addition is allowed.
        extra = {k: v for k, v in again.headers.items() if k != "redelivered"}
        assert extra == {k: v for k, v in first.headers.items() if k != "redelivered"}
        for key in ("correlation_id", "reply_to", "message_id"):
            assert again.properties.get(key) == first.properties.get(key), key

    def _publish_rich(self, conn: Any, queue: Any) -> None:
        self.publish(
            conn,
            queue,
            bytes(range(256)),
            content_type="application/x-kit-bin",
            content_encoding="binary",
            headers={"h": {"n": [1, "x"]}},
            correlation_id="c-9",
            reply_to="r-9",
            message_id="m-9",
        )

    def test_requeued_message_is_intact(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self._publish_rich(conn, queue)
        rec = Recorder()
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
            assert len(rec) == 1
            rec.messages[0].requeue()
            self.collect(conn, rec, 2, timeout=self.redelivery_timeout)
            assert len(rec) == 2
            rec.messages[1].ack()
        self._check_same(rec.messages[0], rec.messages[1])
        assert rec.messages[1].body == bytes(range(256))

    def test_message_restored_on_close_is_intact(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self._publish_rich(conn, queue)
        rec = Recorder()
        consumer = Consumer(conn.default_channel, [queue], callbacks=[rec])
        consumer.consume()
        self.collect(conn, rec, 1)
        assert len(rec) == 1
        conn.release()
        other = self.connection()
        rec2 = Recorder(ack=True)
        with Consumer(other.default_channel, [queue], callbacks=[rec2]):
            self.collect(other, rec2, 1, timeout=self.redelivery_timeout)
        assert len(rec2) == 1, "an unacked message was lost on close"
        self._check_same(rec.messages[0], rec2.messages[0])
