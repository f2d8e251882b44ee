"""The message a virtual channel delivers, built from its stored envelope."""

from __future__ import annotations

from typing import Any

from kombu.transport import base

__all__ = ("Message",)


class Message(base.Message):
    """A message received by a virtual channel, built from its stored envelope.

    ``queue`` is the queue it was fetched from, where it is restored to.
    """

    queue: str | None = None

    def __init__(self, payload: dict[str, Any], channel: Any = None, **kwargs: Any) -> None:
        self._raw = payload
        properties = payload["properties"]
        body = payload.get("body")
        if body:
            body_encoding = properties.get("body_encoding")
            if body_encoding:
                body = channel.decode_body(body, body_encoding)
        delivery_info = properties.get("delivery_info")
        if delivery_info is None:
            delivery_info = properties["delivery_info"] = {}
        if payload.get("redelivered"):
            delivery_info["redelivered"] = True
        super().__init__(
            body=body,
            channel=channel,
            delivery_tag=properties["delivery_tag"],
            content_type=payload.get("content-type"),
            content_encoding=payload.get("content-encoding"),
            headers=payload.get("headers"),
            properties=properties,
            delivery_info=delivery_info,
            postencode="utf-8",
            **kwargs,
        )

    def serializable(self) -> dict[str, Any]:
        """Return the envelope to store again, e.g. when restoring the message."""
        props = self.properties
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
