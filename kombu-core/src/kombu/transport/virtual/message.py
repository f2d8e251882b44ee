"""The message a virtual channel delivers, built from its stored envelope.

Building a message never raises on a bad envelope (a poison message must
not stop the consumer): a body that is not valid for its ``body_encoding``
(bad base64), or properties, headers or delivery info of the wrong type,
give a message whose ``decode()`` raises :class:`MalformedEnvelope` (a
:class:`~kombu.exceptions.DecodeError`). The consumer then rejects it
(without requeue: to the queue's dead-letter exchange, if any) and goes on.
"""

from __future__ import annotations

from typing import Any

from kombu.exceptions import DecodeError
from kombu.transport import base
from kombu.transport.virtual.policy import PUBLISHED_AT

__all__ = ("Message", "MalformedEnvelope", "INVALID_KEY")

#: A properties key a transport sets (with the reason) on an envelope whose
#: stored properties were unusable and had to be replaced to deliver it.
INVALID_KEY = "x-kombu-invalid-envelope"


class MalformedEnvelope(DecodeError):
    """A stored envelope cannot be turned into a message (bad body encoding, bad fields)."""


class _Malformed(Exception):
    pass


def _salvage(
    payload: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any] | None, str | None, str | None, str | None]:
    """Usable parts of a malformed envelope, and what was wrong with it (``None``: nothing)."""
    problem = None
    if not isinstance(payload, dict):
        problem = "the envelope is not a mapping"
        payload = {"body": payload if isinstance(payload, (bytes, str)) else None}
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        problem = f"properties is a {type(properties).__name__}, not a mapping"
        properties = payload["properties"] = {}
    elif INVALID_KEY in properties:
        problem = str(properties[INVALID_KEY])
    delivery_info = properties.get("delivery_info")
    if not isinstance(delivery_info, dict):
        if delivery_info is not None:
            problem = f"delivery_info is a {type(delivery_info).__name__}, not a mapping"
        delivery_info = properties["delivery_info"] = {}
    headers = payload.get("headers")
    if headers is not None and not isinstance(headers, dict):
        problem = f"headers is a {type(headers).__name__}, not a mapping"
        headers = {}
    content_type = payload.get("content-type")
    content_encoding = payload.get("content-encoding")
    if not isinstance(content_type, (str, type(None))) or not isinstance(content_encoding, (str, type(None))):
        problem = "content-type/content-encoding is not a string"
        content_type = content_encoding = None
    return payload, properties, delivery_info, headers, content_type, content_encoding, problem


class Message(base.Message):
    """A message received by a virtual channel, built from its stored envelope.

    ``queue`` is the queue it was fetched from, where it is restored to.
    """

    queue: str | None = None
    #: When the message was published (the engine's stamp, epoch seconds).
    published_at: float | None = None

    def __init__(self, payload: dict[str, Any], channel: Any = None, **kwargs: Any) -> None:
        self._raw = payload
        problem: str | None = None
        try:
            properties = payload["properties"]
            delivery_info = properties.get("delivery_info")
            headers = payload.get("headers")
            content_type = payload.get("content-type")
            content_encoding = payload.get("content-encoding")
            if (
                type(delivery_info) is not dict
                or (headers is not None and type(headers) is not dict)
                or (content_type is not None and type(content_type) is not str)
                or (content_encoding is not None and type(content_encoding) is not str)
                or INVALID_KEY in properties
            ):
                raise _Malformed()
        except (_Malformed, KeyError, TypeError, AttributeError):
            payload, properties, delivery_info, headers, content_type, content_encoding, problem = _salvage(payload)
        # The engine's publish stamp is bookkeeping, not an application
        # property: kept aside and stored again by serializable().
        published_at = properties.pop(PUBLISHED_AT, None)
        if published_at is not None:
            self.published_at = published_at
        body = payload.get("body")
        if body:
            body_encoding = properties.get("body_encoding")
            if body_encoding:
                try:
                    body = channel.decode_body(body, body_encoding)
                except Exception as exc:  # noqa: BLE001 - reported by decode()
                    problem = f"body is not valid {body_encoding!s}: {exc!r}"
            elif not isinstance(body, (bytes, str)) and not getattr(channel, "stores_objects", False):
                problem = f"body is a {type(body).__name__}, not bytes or text"
                body = None
        if payload.get("redelivered"):
            delivery_info["redelivered"] = True
        super().__init__(
            body=body,
            channel=channel,
            delivery_tag=properties.get("delivery_tag"),
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers,
            properties=properties,
            delivery_info=delivery_info,
            postencode="utf-8",
            **kwargs,
        )
        if problem is not None:
            error = MalformedEnvelope(f"malformed message envelope: {problem}")
            self.errors.insert(0, (MalformedEnvelope, error, None))  # type: ignore[union-attr]

    def serializable(self) -> dict[str, Any]:
        """Return the envelope to store again, e.g. when restoring the message.

        A message whose envelope was malformed is stored again as it was.
        """
        if self.errors and isinstance(self.errors[0][1], MalformedEnvelope):
            raw = dict(self._raw)
            raw["properties"] = self.properties
            if self.published_at is not None:
                raw["properties"] = {**self.properties, PUBLISHED_AT: self.published_at}
            return raw
        props = self.properties
        if self.published_at is not None:
            props = {**props, PUBLISHED_AT: self.published_at}
        raw_body = self._raw.get("body")
        headers = dict(self.headers)
        if headers.get("compression"):
            body = raw_body  # still compressed, as stored
        else:
            body = self.body
            encoding = props.get("body_encoding")
            if encoding:
                body, _ = self.channel.encode_body(body, encoding)
            elif isinstance(body, bytes) and isinstance(raw_body, str):
                body = raw_body
        return {
            "body": body,
            "properties": props,
            "content-type": self.content_type,
            "content-encoding": self.content_encoding,
            "headers": headers,
        }
