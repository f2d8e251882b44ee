"""Queue policies with RabbitMQ's semantics: max length with overflow, dead-lettering.

``MaxLengthConformance`` runs for transports declaring ``max_length``;
``DeadLetterConformance`` for those declaring ``dead_lettering`` (its
expired/overflow cases also need ``message_ttl``/``max_length``). A
transport that declares neither must refuse both with
:class:`kombu.exceptions.CapabilityNotSupported`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ..base import ConformanceBase, Recorder, poll, requires

__all__ = ("MaxLengthConformance", "DeadLetterConformance")


class MaxLengthConformance(ConformanceBase):
    """``x-max-length``: ``drop-head`` keeps the newest, ``reject-publish`` the oldest."""

    def _fill(self, conn: Any, **queue_kwargs: Any) -> list[Any]:
        queue = self.declared_queue(conn, **queue_kwargs)
        for i in range(6):
            # One connection per publish, closed (its confirms settled) before the next:
            # with windowed publisher confirms (amqp://, pika://) a refused publish's nack
            # is raised by that publish or by a later call on its connection.
            publisher = self.connection()
            try:
                self.publish(publisher, queue, i)
            except self.publish_refused_errors:
                pass  # refused: what the queue keeps is asserted below
            publisher.release()
        time.sleep(self.quiet_period)
        return [m.payload for m in self.get_all(conn, queue)]

    @requires("max_length")
    def test_drop_head_keeps_the_newest(self) -> None:
        conn = self.connection()
        got = self._fill(conn, max_length=3)
        assert got == [3, 4, 5] if self.fifo else sorted(got) == [3, 4, 5], got

    @requires("max_length")
    def test_reject_publish_keeps_the_oldest(self) -> None:
        conn = self.connection()
        got = self._fill(conn, max_length=3, queue_arguments={"x-overflow": "reject-publish"})
        assert sorted(got) == [0, 1, 2], got

    @requires("max_length")
    def test_room_made_by_consuming_is_used_again(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn, max_length=1, queue_arguments={"x-overflow": "reject-publish"})
        bound = queue(conn.default_channel)
        self.publish(conn, queue, "first")
        try:
            self.publish(conn, queue, "refused")
        except self.publish_refused_errors:
            pass
        message = self.get_eventually(bound)
        assert message is not None and message.payload == "first"
        message.ack()
        # A fresh connection publishes: with windowed publisher confirms (amqp://) the
        # broker's nack of "refused" is reported on a later call of the first connection.
        self.publish(self.connection(), queue, "second")
        message = self.get_eventually(bound)
        assert message is not None and message.payload == "second"
        message.ack()

    @requires("max_length")
    def test_invalid_overflow_is_refused(self) -> None:
        conn = self.connection()
        queue = self.queue(max_length=3, queue_arguments={"x-overflow": "explode"})
        with pytest.raises((ValueError, *conn.channel_errors)):
            queue(conn.channel()).declare()

    @requires("!max_length")
    def test_undeclared_max_length_raises(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.queue(max_length=3)
        with pytest.raises(CapabilityNotSupported):
            queue(conn.channel()).declare()


class DeadLetterConformance(ConformanceBase):
    """Rejected, expired and overflowed messages reach the dead-letter exchange with ``x-death``."""

    def _dead_letter_pair(self, conn: Any, **source_kwargs: Any) -> tuple[Any, Any]:
        """A dead-letter queue (bound to its own exchange) and a source queue dead-lettering to it."""
        dlx = self.exchange("direct")
        dlq = self.queue(dlx, routing_key="dead")
        dlq(conn.default_channel).declare()
        arguments = {
            "x-dead-letter-exchange": dlx.name,
            "x-dead-letter-routing-key": "dead",
            **source_kwargs.pop("queue_arguments", {}),
        }
        source = self.declared_queue(conn, queue_arguments=arguments, **source_kwargs)
        return source, dlq

    def _one_dead(self, conn: Any, dlq: Any) -> Any:
        message = self.get_eventually(dlq(conn.default_channel))
        assert message is not None, "nothing reached the dead-letter queue"
        message.ack()
        return message

    @staticmethod
    def _death(message: Any) -> dict[str, Any]:
        deaths = message.headers.get("x-death")
        assert isinstance(deaths, list) and deaths, f"no x-death header: {message.headers!r}"
        death = deaths[0]
        assert isinstance(death, dict)
        return death

    @requires("dead_lettering")
    def test_rejected_message_is_dead_lettered(self) -> None:
        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn)
        self.publish(conn, source, {"n": 1}, headers={"app": "kept"})
        message = self.get_eventually(source(conn.default_channel))
        assert message is not None
        message.reject(requeue=False)
        dead = self._one_dead(conn, dlq)
        assert dead.payload == {"n": 1}
        assert dead.headers.get("app") == "kept"
        death = self._death(dead)
        assert death["reason"] == "rejected"
        assert death["queue"] == source.name
        assert death["count"] == 1
        assert death["exchange"] == source.exchange.name
        assert list(death["routing-keys"]) == [source.routing_key]
        assert dead.headers.get("x-first-death-reason") == "rejected"
        assert dead.delivery_info.get("routing_key") == "dead"
        assert source(conn.default_channel).get() is None

    @requires("dead_lettering")
    def test_consumer_reject_is_dead_lettered(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn)
        self.publish(conn, source, "bounce")
        seen: list[Any] = []

        def on_message(message: Any) -> None:
            seen.append(message.payload)
            message.reject()

        with Consumer(conn.default_channel, [source], on_message=on_message):
            self.drain(conn, lambda: bool(seen))
        dead = self._one_dead(conn, dlq)
        assert seen == ["bounce"] and dead.payload == "bounce"
        assert self._death(dead)["reason"] == "rejected"

    @requires("dead_lettering")
    def test_requeue_is_not_dead_lettered(self) -> None:
        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn)
        self.publish(conn, source, "again")
        bound = source(conn.default_channel)
        message = self.get_eventually(bound)
        assert message is not None
        message.requeue()
        message = self.get_eventually(bound)
        assert message is not None and message.payload == "again"
        message.ack()
        time.sleep(self.quiet_period)
        assert dlq(conn.default_channel).get() is None

    @requires("dead_lettering")
    def test_dead_letter_to_default_exchange_keeps_routing_key(self) -> None:
        conn = self.connection()
        dlq = self.queue()
        dlq(conn.default_channel).declare()
        source = self.declared_queue(
            conn, queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq.name}
        )
        self.publish(conn, source, "via default")
        message = self.get_eventually(source(conn.default_channel))
        assert message is not None
        message.reject()
        dead = self._one_dead(conn, dlq)
        assert dead.payload == "via default"

    @requires("dead_lettering")
    def test_second_death_increments_count(self) -> None:
        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn)
        self.publish(conn, source, "twice")
        message = self.get_eventually(source(conn.default_channel))
        assert message is not None
        message.reject()
        dead = self._one_dead(conn, dlq)
        # Send it back through the source queue and reject it again.
        self.publish(conn, source, dead.payload, headers=dict(dead.headers))
        message = self.get_eventually(source(conn.default_channel))
        assert message is not None
        message.reject()
        again = self._one_dead(conn, dlq)
        death = self._death(again)
        assert death["reason"] == "rejected" and death["count"] == 2, again.headers

    @requires("dead_lettering", "message_ttl")
    def test_expired_message_is_dead_lettered(self) -> None:
        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn)
        self.publish(conn, source, "late", expiration=0.2)
        self.publish(conn, source, "fresh")
        time.sleep(0.6)
        got = [m.payload for m in self.get_all(conn, source)]
        assert got == ["fresh"]
        dead = self._one_dead(conn, dlq)
        assert dead.payload == "late"
        death = self._death(dead)
        assert death["reason"] == "expired"
        assert str(death.get("original-expiration")) == "200"
        assert dead.properties.get("expiration") is None, "expiration must be removed"

    @requires("dead_lettering", "message_ttl")
    def test_queue_ttl_expiry_while_consuming_is_dead_lettered(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        # The fresh message has the queue's TTL too: long enough for a loaded machine to fetch it.
        source, dlq = self._dead_letter_pair(conn, message_ttl=1.5)
        self.publish(conn, source, "stale")
        time.sleep(2.0)
        self.publish(conn, source, "fresh")
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [source], callbacks=[rec]):
            self.collect(conn, rec, 1)
            self.watch(conn)
        assert rec.bodies == ["fresh"]
        dead = self._one_dead(conn, dlq)
        assert dead.payload == "stale" and self._death(dead)["reason"] == "expired"

    @requires("dead_lettering", "max_length")
    def test_overflowed_message_is_dead_lettered(self) -> None:
        conn = self.connection()
        source, dlq = self._dead_letter_pair(conn, max_length=1)
        self.publish(conn, source, "old")
        self.publish(conn, source, "new")
        dead = self._one_dead(conn, dlq)
        assert dead.payload == "old" and self._death(dead)["reason"] == "maxlen"
        got = [m.payload for m in self.get_all(conn, source)]
        assert got == ["new"]

    @requires("dead_lettering")
    def test_without_dead_letter_exchange_reject_drops(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "gone")
        bound = queue(conn.default_channel)
        message = self.get_eventually(bound)
        assert message is not None
        message.reject()
        assert not poll(lambda: bound.get() is not None, self.quiet_period)

    @requires("!dead_lettering")
    def test_undeclared_dead_lettering_raises(self) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        queue = self.queue(queue_arguments={"x-dead-letter-exchange": "nowhere"})
        with pytest.raises(CapabilityNotSupported):
            queue(conn.channel()).declare()
