"""Declaring, inspecting and deleting exchanges, queues and bindings."""

from __future__ import annotations

import pytest

from ..base import ConformanceBase

__all__ = ("DeclareConformance",)


class DeclareConformance(ConformanceBase):
    """``declare`` is idempotent; passive declares see what exists and only that."""

    def test_declare_queue_then_passive_declare(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        ok = queue(conn.default_channel).queue_declare(passive=True)
        assert ok.queue == queue.name
        assert ok.message_count == 0

    def test_declare_twice_is_idempotent(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        queue(conn.default_channel).declare()
        self.publish(conn, queue, "still-routed")
        message = self.get_eventually(queue(conn.default_channel))
        assert message is not None and message.payload == "still-routed"
        message.ack()

    def test_passive_declare_of_missing_queue_raises_channel_error(self) -> None:
        from kombu import Queue

        conn = self.connection()
        missing = Queue(self.name("missing"))
        with pytest.raises(conn.channel_errors):
            missing(conn.channel()).queue_declare(passive=True)

    def test_passive_declare_of_missing_exchange_raises_channel_error(self) -> None:
        from kombu import Exchange

        conn = self.connection()
        missing = Exchange(self.name("missing"), "direct")
        with pytest.raises(conn.channel_errors):
            missing(conn.channel()).declare(passive=True)

    def test_passive_declare_of_existing_exchange(self) -> None:
        conn = self.connection()
        exchange = self.exchange("direct")
        exchange(conn.default_channel).declare()
        exchange(conn.default_channel).declare(passive=True)

    def test_queue_delete(self) -> None:
        conn = self.connection()
        queue = self.declared_queue(conn)
        queue(conn.default_channel).delete()
        with pytest.raises(conn.channel_errors):
            queue(conn.channel()).queue_declare(passive=True)

    def test_exchange_delete(self) -> None:
        conn = self.connection()
        exchange = self.exchange("direct")
        exchange(conn.default_channel).declare()
        exchange(conn.default_channel).delete()
        with pytest.raises(conn.channel_errors):
            exchange(conn.channel()).declare(passive=True)

    def test_declare_returns_bound_copy_and_leaves_original_unbound(self) -> None:
        from kombu.exceptions import NotBoundError

        conn = self.connection()
        queue = self.queue()
        bound = queue(conn.default_channel)
        assert bound is not queue
        assert not queue.is_bound and bound.is_bound
        with pytest.raises(NotBoundError):
            queue.queue_declare()
        bound.declare()
