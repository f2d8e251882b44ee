"""Message properties and headers survive the trip through the broker."""

from __future__ import annotations

from typing import Any

from ..base import ConformanceBase, Recorder

__all__ = ("PropertiesConformance",)

HEADERS: dict[str, Any] = {
    "text": "héllo ✓",
    "int": 42,
    "negative": -7,
    "float": 1.5,
    "true": True,
    "false": False,
    "list": [1, "two", [3]],
    "nested": {"a": {"b": [1, 2, {"c": "d"}]}, "empty": {}},
}


class PropertiesConformance(ConformanceBase):
    """``publish(**properties)`` and ``headers`` come back unchanged on the message."""

    def _roundtrip(self, body: Any, **kwargs: Any) -> Any:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, body, **kwargs)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert len(rec) == 1, "the message did not arrive"
        return rec.messages[0]

    def test_headers_roundtrip_with_nested_values(self) -> None:
        message = self._roundtrip({"b": 1}, headers=dict(HEADERS))
        for key, value in HEADERS.items():
            assert key in message.headers, f"header {key!r} was lost"
            assert message.headers[key] == value, f"header {key!r} changed"

    def test_amqp_properties_roundtrip(self) -> None:
        message = self._roundtrip(
            "props",
            correlation_id="corr-123",
            reply_to="reply.queue",
            message_id="msg-456",
        )
        assert message.properties["correlation_id"] == "corr-123"
        assert message.properties["reply_to"] == "reply.queue"
        assert message.properties["message_id"] == "msg-456"
        assert message.payload == "props"

    def test_content_type_and_encoding_from_serializer(self) -> None:
        message = self._roundtrip({"x": [1, 2]}, serializer="json")
        assert message.content_type == "application/json"
        assert message.content_encoding == "utf-8"
        assert message.payload == {"x": [1, 2]}

    def test_explicit_content_type_and_binary_body(self) -> None:
        body = bytes(range(256))
        message = self._roundtrip(body, content_type="application/x-kit-binary", content_encoding="binary")
        assert message.content_type == "application/x-kit-binary"
        assert message.content_encoding == "binary"
        assert message.body == body

    def test_text_body_without_serializer(self) -> None:
        from kombu import Consumer, Producer

        conn = self.connection()
        queue = self.declared_queue(conn)
        Producer(conn.default_channel, exchange=queue.exchange).publish(
            "plain ✓ text",
            routing_key=queue.routing_key,
            serializer=None,
            content_type="text/plain",
            content_encoding="utf-8",
        )
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 1)
        assert len(rec) == 1
        assert rec.messages[0].content_type == "text/plain"
        assert rec.bodies == ["plain ✓ text"]

    def test_delivery_mode_transient_and_persistent(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, "transient", delivery_mode=1)
        self.publish(conn, queue, "persistent", delivery_mode=2)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            self.collect(conn, rec, 2)
        assert sorted(rec.bodies) == ["persistent", "transient"]
