"""The transport's runtime answers agree with the capability flags it declares."""

from __future__ import annotations

import pytest

from ..base import ConformanceBase, Recorder, requires

__all__ = ("CapabilitiesConformance", "ALL_EXCHANGE_TYPES")

ALL_EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")


class CapabilitiesConformance(ConformanceBase):
    """``Connection.supports_*``/``is_evented`` match the flags; declared extras work."""

    @pytest.mark.parametrize("type_", ALL_EXCHANGE_TYPES)
    def test_supports_exchange_type_matches_flags(self, type_: str) -> None:
        conn = self.connection()
        declared = type_ in self.kit_capabilities().exchange_types
        assert conn.supports_exchange_type(type_) is declared

    def test_supports_heartbeats_matches_flags(self) -> None:
        conn = self.connection()
        assert bool(conn.supports_heartbeats) is bool(self.kit_capabilities().heartbeats)

    def test_is_evented_matches_async_events_flag(self) -> None:
        conn = self.connection()
        assert bool(conn.is_evented) is bool(self.kit_capabilities().async_events)

    @requires("heartbeats")
    def test_heartbeat_check_on_a_heartbeating_connection(self) -> None:
        conn = self.connection(heartbeat=10)
        assert conn.get_heartbeat_interval() > 0
        conn.heartbeat_check()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "alive")
        message = self.get_eventually(queue(conn.default_channel))
        assert message is not None and message.payload == "alive"
        message.ack()

    @requires("persistent_declarations")
    def test_declarations_seen_by_another_connection(self) -> None:
        """With persistent declarations, a binding made by one client routes for all."""
        from kombu import Consumer, Producer

        first = self.connection()
        exchange = self.exchange("direct")
        queue = self.queue(exchange, routing_key="shared")
        queue(first.default_channel).declare()

        other = self.connection()
        Producer(other.default_channel, exchange=exchange).publish("routed", routing_key="shared", declare=[])
        rec = Recorder(ack=True)
        with Consumer(first.default_channel, [queue], callbacks=[rec], auto_declare=False):
            self.collect(first, rec, 1)
        assert rec.bodies == ["routed"]
