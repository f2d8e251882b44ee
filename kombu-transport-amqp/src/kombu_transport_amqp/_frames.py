"""AMQP 0-9-1 frame encoding for the publish hot path, and delivery parsing.

py-amqp builds every frame through a generic, format-string driven writer.
This module builds exactly the frames a publish needs (``Basic.Publish``
method frame, content header frame, body frames) from pre-encoded pieces:

* the method frame depends only on (channel, exchange, routing key, flags),
  so it is encoded once and reused;
* the content-header property list depends only on the message's
  properties, so messages of one *shape* (same content type, encoding,
  delivery mode, priority, no per-message headers...) share one encoding.

Property values are encoded the way py-amqp encodes them (tables by
:mod:`kombu_transport_amqp._table`), so what goes on the wire is what Kombu 5
on py-amqp writes, byte for byte; the decoder is py-amqp's own.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import datetime
from struct import Struct
from typing import Any

from ._table import encode_table

__all__ = (
    "FRAME_END",
    "PROPERTY_FLAGS",
    "PreparedMessage",
    "encode_properties",
    "publish_method_frame",
    "ack_frame",
    "reject_frame",
    "nack_frame",
    "content_header_parts",
)

FRAME_END = b"\xce"

#: Basic class property name -> (flag bit, wire type); the AMQP 0-9-1 order.
PROPERTY_FLAGS: dict[str, tuple[int, str]] = {
    "content_type": (0x8000, "s"),
    "content_encoding": (0x4000, "s"),
    "application_headers": (0x2000, "F"),
    "delivery_mode": (0x1000, "o"),
    "priority": (0x0800, "o"),
    "correlation_id": (0x0400, "s"),
    "reply_to": (0x0200, "s"),
    "expiration": (0x0100, "s"),
    "message_id": (0x0080, "s"),
    "timestamp": (0x0040, "T"),
    "type": (0x0020, "s"),
    "user_id": (0x0010, "s"),
    "app_id": (0x0008, "s"),
    "cluster_id": (0x0004, "s"),
}
_ORDER = tuple(PROPERTY_FLAGS.items())

_H = Struct(">H")
_B = Struct(">B")
_Q = Struct(">Q")
_METHOD_HEAD = Struct(">BHIHH")
_HEADER_HEAD = Struct(">BHIHH")
_ACK = Struct(">BHIHHQB")


class PreparedMessage:
    """What ``Channel.prepare_message`` returns and ``basic_publish`` takes.

    Holds the body and the message properties in py-amqp's names
    (``application_headers`` for headers). ``properties`` is built lazily:
    the hot path reads the fields directly.
    """

    __slots__ = ("body", "priority", "content_type", "content_encoding", "headers", "extra")

    def __init__(
        self,
        body: bytes | str,
        priority: int | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.body = body
        self.priority = priority
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.headers = headers
        self.extra = extra

    @property
    def properties(self) -> dict[str, Any]:
        """All properties as one dict, py-amqp style (``None`` values left out)."""
        props: dict[str, Any] = dict(self.extra or {})
        for key, value in (
            ("content_type", self.content_type),
            ("content_encoding", self.content_encoding),
            ("application_headers", self.headers),
            ("priority", self.priority),
        ):
            if value is not None:
                props[key] = value
        return props

    def shape_key(self) -> tuple[Any, ...] | None:
        """A hashable key for the encoded properties, or ``None`` when uncacheable.

        Messages with non-empty headers are not cached: headers usually
        vary per message (task ids, ...).
        """
        if self.headers:
            return None
        extra = self.extra
        return (
            self.content_type,
            self.content_encoding,
            self.priority,
            self.headers is None,
            tuple(extra.items()) if extra else (),
        )


def _shortstr(value: Any, name: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
    if len(raw) > 255:
        raise ValueError(f"message property {name!r} is longer than 255 bytes")
    return _B.pack(len(raw)) + raw


def encode_properties(props: Mapping[str, Any]) -> bytes:
    """Encode the property flags and property list of a Basic content header.

    ``props`` uses py-amqp's names; ``None`` values and unknown names are
    left out (as py-amqp does). ``timestamp`` may be an ``int`` (seconds
    since the epoch) or a ``datetime`` (UTC when naive).
    """
    flags = 0
    parts: list[bytes] = []
    for name, (bit, kind) in _ORDER:
        value = props.get(name)
        if value is None:
            continue
        flags |= bit
        if kind == "s":
            parts.append(_shortstr(value, name))
        elif kind == "o":
            parts.append(_B.pack(int(value)))
        elif kind == "F":
            parts.append(encode_table(value))
        else:  # timestamp
            if isinstance(value, datetime):
                value = calendar.timegm(value.utctimetuple())
            parts.append(_Q.pack(int(value)))
    return _H.pack(flags) + b"".join(parts)


def publish_method_frame(channel_id: int, exchange: str, routing_key: str, mandatory: bool, immediate: bool) -> bytes:
    """The complete ``Basic.Publish`` method frame (header, payload, frame end)."""
    payload = (
        b"\x00\x00"  # reserved ticket
        + _shortstr(exchange, "exchange")
        + _shortstr(routing_key, "routing_key")
        + _B.pack((1 if mandatory else 0) | (2 if immediate else 0))
    )
    return _METHOD_HEAD.pack(1, channel_id, 4 + len(payload), 60, 40) + payload + FRAME_END


def content_header_parts(channel_id: int, props: bytes) -> tuple[bytes, bytes]:
    """Pieces of a content header frame around its 8-byte body size.

    Returns ``(head, tail)`` so that ``head + pack('>Q', size) + tail``
    is the header frame followed by the start of a body frame
    (type 3 and channel), ready for the body's 4-byte size.
    """
    head = _HEADER_HEAD.pack(2, channel_id, 12 + len(props), 60, 0)
    tail = props + FRAME_END + b"\x03" + _H.pack(channel_id)
    return head, tail


def ack_frame(channel_id: int, delivery_tag: int, multiple: bool) -> bytes:
    """A ``Basic.Ack`` method frame."""
    return _ACK.pack(1, channel_id, 13, 60, 80, delivery_tag, 1 if multiple else 0) + FRAME_END


def reject_frame(channel_id: int, delivery_tag: int, requeue: bool) -> bytes:
    """A ``Basic.Reject`` method frame."""
    return _ACK.pack(1, channel_id, 13, 60, 90, delivery_tag, 1 if requeue else 0) + FRAME_END


def nack_frame(channel_id: int, delivery_tag: int, multiple: bool, requeue: bool) -> bytes:
    """A ``Basic.Nack`` method frame (RabbitMQ extension)."""
    bits = (1 if multiple else 0) | (2 if requeue else 0)
    return _ACK.pack(1, channel_id, 13, 60, 120, delivery_tag, bits) + FRAME_END
