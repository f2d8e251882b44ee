"""pika messages and properties for the ``pika://`` transport.

Properties are encoded and decoded by this package's codec (what Kombu 5 on
py-amqp writes and reads), so both transports present the same message
layout; see :class:`EncodedProperties` and :class:`DecodedProperties`.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pika
from kombu.exceptions import ChannelError, ConnectionError
from kombu.message import Message as BaseMessage

from ._frames import encode_properties
from ._table import decode_properties_or_error

__all__ = (
    "queue_declare_ok_t",
    "ConsumerCancelled",
    "MessageReturned",
    "FlowNotSupported",
    "EncodedProperties",
    "DecodedProperties",
    "install_decoder",
    "properties_to_dict",
    "Message",
    "PROPERTY_NAMES",
    "CACHE_MAX",
)

queue_declare_ok_t = namedtuple("queue_declare_ok_t", ("queue", "message_count", "consumer_count"))

PROPERTY_NAMES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
)
CACHE_MAX = 512


class ConsumerCancelled(ConnectionError):
    """The broker cancelled a consumer that had no ``on_cancel`` callback.

    Raised from ``drain_events`` (queue deleted, node down...), so the
    consumer is never silently dead; it is a connection error, so
    ``ConsumerMixin`` reconnects and re-declares.
    """


class MessageReturned(ChannelError):
    """A ``mandatory`` message could not be routed (passed to ``on_return``).

    Attributes ``reply_code`` and ``reply_text`` are the broker's.
    """

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(f"({reply_code}) {reply_text}")
        self.reply_code = reply_code
        self.reply_text = reply_text


class FlowNotSupported(ChannelError, NotImplementedError):
    """``channel.flow`` is not available on pika (nor honoured by RabbitMQ)."""


class EncodedProperties(pika.BasicProperties):  # type: ignore[misc]
    """Basic properties encoded once, by this package's encoder.

    pika cannot put floats in header tables and re-encodes properties on
    every publish; these are encoded as Kombu 5 on py-amqp encodes them
    (:func:`kombu_transport_amqp._frames.encode_properties`), once per
    message shape, and handed to pika's frame writer as is.
    """

    def __init__(self, properties: dict[str, Any]) -> None:
        headers = properties.get("application_headers")
        super().__init__(**{k: v for k, v in properties.items() if k in PROPERTY_NAMES}, headers=headers)
        self._encoded = encode_properties(properties)

    def encode(self) -> list[bytes]:
        """The pre-encoded property flags and list."""
        return [self._encoded]


class DecodedProperties(pika.BasicProperties):  # type: ignore[misc]
    """Basic properties decoded by this package's decoder.

    pika's own decoder truncates ``float`` header values to integers; this
    one returns exactly what py-amqp returns. Installed as pika's class for
    Basic content headers when this module is imported (see
    :func:`install_decoder`); behaves as ``pika.BasicProperties`` otherwise.
    """

    _cache: dict[bytes, dict[str, Any]] = {}

    def decode(self, encoded: bytes, offset: int = 0) -> DecodedProperties:
        """Fill the attributes from the encoded property flags and list.

        The py-amqp-style dict is kept as ``kombu_properties``; decoded
        shapes without headers are cached by their bytes. Properties that
        cannot be decoded (bad UTF-8, corrupt table) do not raise: what can
        be read is kept and the error is ``kombu_decode_error``.
        """
        raw = bytes(encoded[offset:]) if offset else bytes(encoded)
        cached = self._cache.get(raw)
        if cached is not None:
            props = dict(cached)
            if "application_headers" in props:
                props["application_headers"] = {}
        else:
            props, error = decode_properties_or_error(raw, 0)
            if error is not None:
                # Raising here would break pika's connection; the consumer
                # rejects the message instead (see Message.from_pika).
                self.kombu_decode_error = error
            elif not props.get("application_headers"):
                if len(self._cache) >= CACHE_MAX:
                    self._cache.clear()
                self._cache[raw] = dict(props)
        self.kombu_properties = props
        for name, value in props.items():
            if name == "application_headers":
                self.headers = value
            else:
                setattr(self, name, value)
        return self


def install_decoder() -> None:
    """Make pika decode Basic properties with :class:`DecodedProperties`.

    Process-wide: pika looks the class up in ``pika.spec.props``. The only
    behaviour change for other pika users in the process is that float
    header values keep their fractional part.
    """
    import pika.spec

    if pika.spec.props.get(pika.spec.BasicProperties.INDEX) is pika.spec.BasicProperties:
        pika.spec.props[pika.spec.BasicProperties.INDEX] = DecodedProperties


install_decoder()


def properties_to_dict(props: pika.BasicProperties) -> dict[str, Any]:
    """pika properties as py-amqp's property dict (``None`` values left out)."""
    decoded = getattr(props, "kombu_properties", None)
    if decoded is not None:
        return decoded  # type: ignore[no-any-return]
    result: dict[str, Any] = {}
    for name in PROPERTY_NAMES:
        value = getattr(props, name)
        if value is not None:
            result[name] = value
    if props.headers is not None:
        result["application_headers"] = props.headers
    return result


class Message(BaseMessage):
    """A message received over pika (same layout as the py-amqp transport's)."""

    @classmethod
    def from_pika(cls, channel: Any, method: Any, props: pika.BasicProperties, body: bytes, **info: Any) -> Message:
        """Build from a pika ``Deliver``/``GetOk``/``Return`` method, properties, body."""
        properties = properties_to_dict(props)
        delivery_info = {
            "delivery_tag": getattr(method, "delivery_tag", None),
            "redelivered": getattr(method, "redelivered", False),
            "exchange": method.exchange,
            "routing_key": method.routing_key,
            **info,
        }
        message = cls(
            body=body,
            channel=channel,
            delivery_tag=delivery_info["delivery_tag"],
            content_type=properties.get("content_type"),
            content_encoding=properties.get("content_encoding"),
            delivery_info=delivery_info,
            properties=properties,
            headers=properties.get("application_headers") or {},
        )
        error = getattr(props, "kombu_decode_error", None)
        if error is not None:
            message.errors = [(type(error), error, None), *(message.errors or ())]
        return message
