"""Serializers and compressors, including refusal of untrusted content."""

from __future__ import annotations

import datetime
import uuid

import pytest
from kombu import compression, serialization
from kombu.exceptions import ContentDisallowed, DecodeError, EncodeError, SerializerNotInstalled

OBJ = {"a": [1, 2.5, "three"], "b": {"nested": True}, "c": None}


@pytest.mark.parametrize("name", ["json", "pickle", "yaml", "msgpack"])
def test_round_trip(name):
    content_type, encoding, payload = serialization.dumps(OBJ, serializer=name)
    accept = serialization.prepare_accept_content([name])
    assert serialization.loads(payload, content_type, encoding, accept=accept) == OBJ


def test_json_handles_datetime_uuid():
    value = {"when": datetime.datetime(2026, 11, 27, 4, 31), "id": uuid.UUID(int=5)}
    content_type, encoding, payload = serialization.dumps(value)
    decoded = serialization.loads(payload, content_type, encoding)
    assert decoded["id"] == uuid.UUID(int=5)
    assert decoded["when"] == datetime.datetime(2026, 11, 27, 4, 31)


@pytest.mark.parametrize("name", ["pickle", "yaml", "msgpack"])
def test_insecure_refused_by_default(name):
    content_type, encoding, payload = serialization.dumps(OBJ, serializer=name)
    with pytest.raises(ContentDisallowed):
        serialization.loads(payload, content_type, encoding)


def test_accept_list_refuses_other_types():
    content_type, encoding, payload = serialization.dumps(OBJ)
    with pytest.raises(ContentDisallowed):
        serialization.loads(payload, content_type, encoding, accept={"application/x-yaml"})


def test_enable_and_disable_insecure():
    content_type, encoding, payload = serialization.dumps(OBJ, serializer="pickle")
    serialization.enable_insecure_serializers(["pickle"])
    try:
        assert serialization.loads(payload, content_type, encoding) == OBJ
    finally:
        serialization.disable_insecure_serializers()
    with pytest.raises(ContentDisallowed):
        serialization.loads(payload, content_type, encoding)


def test_raw_bytes_and_text_pass_through():
    assert serialization.dumps(b"\x00\xff") == ("application/data", "binary", b"\x00\xff")
    assert serialization.dumps("héllo") == ("text/plain", "utf-8", "héllo")
    assert serialization.loads("héllo".encode(), "text/plain", "utf-8") == "héllo"


def test_decode_error_is_typed():
    with pytest.raises(DecodeError):
        serialization.loads(b"{not json", "application/json", "utf-8")


def test_encode_error_is_typed():
    with pytest.raises(EncodeError):
        serialization.dumps({"x": object()}, serializer="json")


def test_unknown_serializer():
    with pytest.raises(SerializerNotInstalled):
        serialization.dumps(OBJ, serializer="nope")


def test_register_custom_serializer():
    serialization.register("upper", lambda s: s.upper(), lambda s: s.lower(), "application/x-upper", "utf-8")
    try:
        assert serialization.dumps("abc", serializer="upper") == ("application/x-upper", "utf-8", "ABC")
        assert serialization.loads("ABC", "application/x-upper", "utf-8") == "abc"
    finally:
        serialization.unregister("upper")


@pytest.mark.parametrize("name", ["zlib", "bzip2", "lzma", "zstd", "brotli", "gzip"])
def test_compression_round_trip(name):
    data = b"kombu " * 1000
    compressed, content_type = compression.compress(data, name)
    assert len(compressed) < len(data)
    assert compression.decompress(compressed, content_type) == data


def test_corrupt_compressed_body_is_decode_error():
    with pytest.raises(DecodeError):
        compression.decompress(b"not zlib", "application/x-gzip")


def test_tables_read_directly_are_complete_on_a_fresh_registry():
    # Celery builds result backends from ``registry._encoders[name]`` before anything encodes.
    fresh = serialization.SerializerRegistry()
    content_type, content_encoding, encoder = fresh._encoders["json"]
    assert (content_type, content_encoding) == ("application/json", "utf-8")
    assert encoder({"a": 1}) == '{"a": 1}'
    fresh = serialization.SerializerRegistry()
    assert fresh._decoders["application/json"]('{"a": 1}') == {"a": 1}
    assert serialization.SerializerRegistry().name_to_type["pickle"] == "application/x-python-serialize"
    assert serialization.SerializerRegistry().type_to_name["application/json"] == "json"
    assert "application/x-python-serialize" in serialization.SerializerRegistry()._disabled_content_types
