"""Serializer and compression round trips, and bad payloads that must not stall a consumer."""

from __future__ import annotations

import datetime
import importlib.util
import time
from typing import Any

import pytest

from ..base import ConformanceBase, Recorder, poll, requires

__all__ = ("SerializationConformance", "CompressionConformance", "BadPayloadConformance")

JSON_BODY: dict[str, Any] = {
    "text": "héllo wörld ✓ 日本",
    "int": 2**40,
    "float": 0.25,
    "bool": [True, False],
    "none": None,
    "list": [1, [2, [3, {"deep": "yes"}]]],
    "empty": {"list": [], "dict": {}, "str": ""},
}

# serializer -> (python module it needs or None, body that survives it)
SERIALIZERS: dict[str, tuple[str | None, Any]] = {
    "json": (None, JSON_BODY),
    "pickle": (None, {"set": {1, 2, 3}, "tuple": (1, "a"), "bytes": b"\x00\xff", "date": datetime.date(2024, 2, 29)}),
    "yaml": ("yaml", {"list": [1, 2.5, "three"], "map": {"k": None, "t": True}}),
    "msgpack": ("msgpack", {"list": [1, 2, 3], "map": {"k": None}, "bytes": b"\x01\x02"}),
}

COMPRESSIONS = ("zlib", "bzip2", "lzma")


class _RoundTrip(ConformanceBase):
    def roundtrip(self, body: Any, accept: list[str] | None = None, **kwargs: Any) -> Any:
        """Publish ``body`` with ``kwargs``, consume it with ``accept``; the message."""
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, body, **kwargs)
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec], accept=accept):
            self.collect(conn, rec, 1)
        assert len(rec) == 1, "the message did not arrive"
        return rec


class SerializationConformance(_RoundTrip):
    """Each serializer's body comes back equal when the consumer accepts it."""

    @pytest.mark.parametrize("serializer", sorted(SERIALIZERS))
    def test_serializer_roundtrip(self, serializer: str) -> None:
        module, body = SERIALIZERS[serializer]
        if module is not None and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
        rec = self.roundtrip(body, accept=[serializer], serializer=serializer)
        assert rec.bodies == [body]

    def test_raw_bytes_roundtrip(self) -> None:
        body = bytes(range(256)) * 4
        rec = self.roundtrip(body)
        assert rec.messages[0].body == body
        assert rec.bodies == [body]

    def test_large_message_roundtrip(self) -> None:
        body = {"blob": "x" * 200_000, "n": list(range(1000))}
        rec = self.roundtrip(body, serializer="json")
        assert rec.bodies == [body]


class CompressionConformance(_RoundTrip):
    """Compressed bodies come back decompressed, with the compression header set."""

    @pytest.mark.parametrize("compression", COMPRESSIONS)
    def test_compression_roundtrip(self, compression: str) -> None:
        body = {"data": "compress me " * 500, "n": 1}
        rec = self.roundtrip(body, serializer="json", compression=compression)
        assert rec.bodies == [body]
        assert rec.messages[0].headers.get("compression"), "compression header missing"

    def test_compressed_binary_roundtrip(self) -> None:
        body = bytes(range(256)) * 16
        rec = self.roundtrip(body, compression="zlib")
        assert rec.bodies == [body]


class BadPayloadConformance(ConformanceBase):
    """A bad message is reported (or raises) and the next good one still arrives."""

    def _publish_then_good(self, conn: Any, queue: Any, **bad: Any) -> None:
        body = bad.pop("body")
        self.publish(conn, queue, body, **bad)
        self.publish(conn, queue, {"good": True}, serializer="json")

    def _expect_error_then_good(self, accept: list[str] | None, **bad: Any) -> list[Exception]:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self._publish_then_good(conn, queue, **bad)
        errors: list[Exception] = []

        def on_decode_error(message: Any, exc: BaseException) -> None:
            assert isinstance(exc, Exception), exc
            errors.append(exc)
            message.reject()

        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec], accept=accept, on_decode_error=on_decode_error):
            self.drain(conn, lambda: bool(errors) and len(rec) >= 1)
            self.watch(conn)
        assert rec.bodies == [{"good": True}], "the good message after a bad one was not received"
        assert len(errors) == 1, f"on_decode_error called {len(errors)} times"
        return errors

    def test_undecodable_json_goes_to_on_decode_error(self) -> None:
        from kombu.exceptions import DecodeError

        errors = self._expect_error_then_good(
            None,
            body=b"{not json",
            content_type="application/json",
            content_encoding="utf-8",
        )
        assert isinstance(errors[0], DecodeError)

    def test_content_type_outside_accept_goes_to_on_decode_error(self) -> None:
        from kombu.exceptions import ContentDisallowed

        errors = self._expect_error_then_good(
            ["json"],
            body=b"\x00\x01",
            content_type="application/x-kit-other",
            content_encoding="binary",
        )
        assert isinstance(errors[0], ContentDisallowed)

    def test_pickle_refused_by_default(self) -> None:
        from kombu.exceptions import ContentDisallowed

        errors = self._expect_error_then_good(None, body={"evil": 1}, serializer="pickle")
        assert isinstance(errors[0], ContentDisallowed)

    def test_pickle_refused_when_accept_is_json_only(self) -> None:
        from kombu.exceptions import ContentDisallowed

        errors = self._expect_error_then_good(["json"], body={"evil": 1}, serializer="pickle")
        assert isinstance(errors[0], ContentDisallowed)

    def test_corrupt_compressed_body_goes_to_on_decode_error(self) -> None:
        self._expect_error_then_good(
            None,
            body=b"definitely not zlib",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"compression": "application/x-gzip"},
        )

    def test_decode_raises_in_on_message_and_next_arrives(self) -> None:
        from kombu import Consumer
        from kombu.exceptions import ContentDisallowed, DecodeError

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, b"{not json", content_type="application/json", content_encoding="utf-8")
        self.publish(conn, queue, {"evil": 1}, serializer="pickle")
        self.publish(conn, queue, {"good": True})
        errors: list[Exception] = []
        good: list[Any] = []

        def on_message(message: Any) -> None:
            try:
                good.append(message.decode())
            except (DecodeError, ContentDisallowed) as exc:
                errors.append(exc)
                message.reject()
            else:
                message.ack()

        with Consumer(conn.default_channel, [queue], on_message=on_message, accept=["json"]):
            self.drain(conn, lambda: len(errors) + len(good) >= 3)
        assert good == [{"good": True}]
        assert sorted(type(e).__name__ for e in errors) == ["ContentDisallowed", "DecodeError"]

    def test_without_on_decode_error_drain_raises_typed_error_and_continues(self) -> None:
        from kombu import Consumer
        from kombu.exceptions import ContentDisallowed, DecodeError

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, b"{not json", content_type="application/json", content_encoding="utf-8")
        self.publish(conn, queue, {"good": True})
        rec = Recorder(ack=True)
        raised: list[Exception] = []
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):

            def step() -> bool:
                try:
                    self.drain(conn, lambda: len(rec) >= 1)
                except (DecodeError, ContentDisallowed) as exc:
                    raised.append(exc)
                return len(rec) >= 1

            for _ in range(3):
                if step():
                    break
        assert len(raised) == 1 and isinstance(raised[0], DecodeError)
        assert rec.bodies == [{"good": True}]

    # -- poison envelopes written straight into a virtual transport's storage --

    def _put_raw(self, conn: Any, queue: Any, mutate: Any) -> None:
        """Store an envelope made bad by ``mutate(envelope)`` on ``queue`` through ``_put``."""
        channel = conn.default_channel
        envelope = channel.prepare_message("poison", content_type="application/json", content_encoding="utf-8")
        props = envelope["properties"]
        props["delivery_tag"] = channel._next_delivery_tag()
        props["delivery_info"].update(exchange=queue.exchange.name, routing_key=queue.routing_key)
        mutate(envelope)
        channel._put(queue.name, envelope)

    def _poison_then_good(self, mutate: Any, dead_letter: bool = False) -> None:
        from kombu import Consumer
        from kombu.exceptions import DecodeError

        conn = self.connection()
        dlq = None
        if dead_letter:
            dlx = self.exchange("direct")
            dlq = self.queue(dlx, routing_key="dead")
            dlq(conn.default_channel).declare()
            queue = self.declared_queue(
                conn, queue_arguments={"x-dead-letter-exchange": dlx.name, "x-dead-letter-routing-key": "dead"}
            )
        else:
            queue = self.declared_queue(conn)
        self._put_raw(conn, queue, mutate)
        self.publish(conn, queue, {"good": True}, serializer="json")
        errors: list[Exception] = []

        def on_decode_error(message: Any, exc: BaseException) -> None:
            assert isinstance(exc, Exception), exc
            errors.append(exc)
            message.reject()

        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec], on_decode_error=on_decode_error):
            self.drain(conn, lambda: bool(errors) and len(rec) >= 1)
            self.watch(conn)
        assert rec.bodies == [{"good": True}], "the good message after a poison one was not received"
        assert len(errors) == 1 and isinstance(errors[0], DecodeError), errors
        bound = queue(conn.default_channel)
        assert not poll(lambda: bound.get() is not None, self.quiet_period), "the poison message came back"
        if dlq is not None:
            channel = conn.default_channel
            got: list[Any] = []

            def fetch() -> bool:
                # basic_get, not Queue.get: the dead-lettered message is still poison.
                got.append(channel.basic_get(dlq.name))
                return got[-1] is not None

            poll(fetch, self.timeout)
            dead = got[-1]
            assert dead is not None, "the poison message was not dead-lettered"
            assert dead.headers["x-death"][0]["reason"] == "rejected"
            channel.basic_ack(dead.delivery_tag)

    @requires("virtual")
    def test_poison_bad_base64_body_is_rejected_and_next_arrives(self) -> None:
        def bad_base64(envelope: dict[str, Any]) -> None:
            envelope["properties"]["body_encoding"] = "base64"
            envelope["body"] = "abcde"  # not valid base64 (bad padding)

        self._poison_then_good(bad_base64)

    @requires("virtual")
    def test_poison_headers_not_a_mapping_is_rejected_and_next_arrives(self) -> None:
        def bad_headers(envelope: dict[str, Any]) -> None:
            envelope["headers"] = ["not", "a", "mapping"]

        self._poison_then_good(bad_headers)

    @requires("virtual")
    def test_poison_without_on_decode_error_raises_once_and_is_not_redelivered(self) -> None:
        from kombu import Consumer
        from kombu.exceptions import DecodeError

        conn = self.connection()
        queue = self.declared_queue(conn)

        def bad_base64(envelope: dict[str, Any]) -> None:
            envelope["properties"]["body_encoding"] = "base64"
            envelope["body"] = "abcde"

        self._put_raw(conn, queue, bad_base64)
        self.publish(conn, queue, {"good": True}, serializer="json")
        rec = Recorder(ack=True)
        raised: list[Exception] = []
        with Consumer(conn.default_channel, [queue], callbacks=[rec]):
            deadline = time.monotonic() + self.timeout
            while len(rec) < 1 and time.monotonic() < deadline:
                try:
                    self.drain(conn, lambda: len(rec) >= 1)
                except DecodeError as exc:
                    raised.append(exc)
            self.watch(conn)
        assert rec.bodies == [{"good": True}]
        assert len(raised) == 1, f"the poison message raised {len(raised)} times"
        bound = queue(conn.default_channel)
        assert not poll(lambda: bound.get() is not None, self.quiet_period), "the poison message came back"

    @requires("dead_lettering")
    @requires("virtual")
    def test_poison_is_dead_lettered_where_declared(self) -> None:
        def bad_base64(envelope: dict[str, Any]) -> None:
            envelope["properties"]["body_encoding"] = "base64"
            envelope["body"] = "abcde"

        self._poison_then_good(bad_base64, dead_letter=True)

    def test_pickle_accepted_when_listed(self) -> None:
        from kombu import Consumer

        conn = self.connection()
        queue = self.declared_queue(conn)
        self.publish(conn, queue, {"set": {1, 2}}, serializer="pickle")
        rec = Recorder(ack=True)
        with Consumer(conn.default_channel, [queue], callbacks=[rec], accept=["pickle"]):
            self.collect(conn, rec, 1)
        assert rec.bodies == [{"set": {1, 2}}]
