"""The SQS message body: Kombu 5.7's encoding, both ways.

Kombu 5.7 stores the virtual engine's JSON envelope (``body``,
``properties``, ``headers``, ``content-type``, ``content-encoding``) as the
SQS message body, base64-encoded unless ``sqs_base64_encoding`` is false.
On receipt it base64-decodes the body when it looks like base64 of UTF-8
text, and wraps a body that is not a Kombu envelope (a message sent by some
other SQS client) as the raw message body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

__all__ = ("encode", "decode", "received_payload")

_B64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_dumps = json.dumps
_loads = json.loads


def encode(envelope: dict[str, Any], base64_encoding: bool = True) -> str:
    """The SQS ``MessageBody`` for ``envelope``."""
    text = _dumps(envelope)
    if base64_encoding:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    return text


def _maybe_b64decode(body: str) -> str:
    candidate = body.strip()
    if not candidate or candidate[0] == "{" or _B64.fullmatch(candidate) is None:
        return body
    try:
        return base64.b64decode(candidate, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return body


def decode(body: str) -> dict[str, Any]:
    """The envelope in SQS ``body`` (a foreign body is wrapped as the message body)."""
    text = _maybe_b64decode(body)
    try:
        payload = _loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
        return {"body": text, "properties": {"delivery_info": {}}}
    return payload


def received_payload(record: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """The envelope of ReceiveMessage ``record``, stamped as Kombu 5.7 stamps it.

    ``delivery_tag`` is the receipt handle; ``delivery_info`` carries
    ``sqs_message`` (the record without its body) and ``sqs_queue`` (the
    queue URL); a record received more than once is marked redelivered.
    """
    payload = decode(record["Body"])
    props = payload["properties"]
    info = props.get("delivery_info")
    if not isinstance(info, dict):
        info = props["delivery_info"] = {}
    meta = {k: v for k, v in record.items() if k != "Body"}
    info["sqs_message"] = meta
    info["sqs_queue"] = queue_url
    props["delivery_tag"] = record["ReceiptHandle"]
    try:
        again = int(record.get("Attributes", {}).get("ApproximateReceiveCount", 1)) > 1
    except (TypeError, ValueError):
        again = False
    if again:
        info["redelivered"] = True
        payload["redelivered"] = True
    return payload
