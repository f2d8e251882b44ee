"""amqp:// hands a text body over as ``str``, as py-amqp's auto_decode does for Kombu 5."""

from __future__ import annotations

import pytest
from kombu_transport_amqp._amqp_channel import text_body


@pytest.mark.nobroker
@pytest.mark.parametrize(
    ("body", "properties", "expected"),
    [
        (b"hello", {"content_encoding": "utf-8"}, "hello"),
        (b"caf\xc3\xa9", {"content_encoding": "utf-8"}, "café"),
        (b"\xff\xfe", {"content_encoding": "utf-8"}, b"\xff\xfe"),  # not text: stays bytes
        (b"\x80\x04K\x01.", {"content_encoding": "binary"}, b"\x80\x04K\x01."),
        (
            b"x\x9c",
            {"content_encoding": "utf-8", "application_headers": {"compression": "application/x-gzip"}},
            b"x\x9c",
        ),
        (b"hello", {"content_encoding": "utf-\udcfe8"}, b"hello"),  # undecodable encoding name
        (b"hello", {}, b"hello"),
    ],
)
def test_text_body(body: bytes, properties: dict[str, object], expected: bytes | str) -> None:
    assert text_body(body, properties) == expected
