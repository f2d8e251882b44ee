"""Behaviour of kombu.utils.json, including Kombu 5's wire format."""

from __future__ import annotations

import json as stdjson
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from kombu.utils.json import JSONEncoder, dumps, loads, register_type

UUID = uuid.UUID("5b4c12a4-6f39-4b1d-9c6e-1f2a3b4c5d6e")


def test_plain_payload_round_trips_as_standard_json():
    payload = {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    text = dumps(payload)
    assert stdjson.loads(text) == payload
    assert loads(text) == payload
    assert loads(text.encode()) == payload
    assert loads(bytearray(text.encode())) == payload
    assert loads(memoryview(text.encode())) == payload


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 5, 6, 7, 8, 9, 123456),
        datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2))),
        date(2024, 5, 6),
        time(7, 8, 9, 5),
        Decimal("3.14159265358979323846"),
        UUID,
        b"hello",
        b"\xff\x00\xfe",
    ],
)
def test_extended_types_round_trip(value):
    result = loads(dumps({"v": value, "n": [value]}))
    assert result == {"v": value, "n": [value]}
    assert type(result["v"]) is type(value)


def test_wire_format_matches_kombu5():
    text = dumps(
        {
            "dt": datetime(2024, 5, 6, 7, 8, 9),
            "d": date(2024, 5, 6),
            "t": time(7, 8),
            "dec": Decimal("1.5"),
            "u": UUID,
            "b": b"hi",
            "b64": b"\xff",
        }
    )
    assert stdjson.loads(text) == {
        "dt": {"__type__": "datetime", "__value__": "2024-05-06T07:08:09"},
        "d": {"__type__": "date", "__value__": "2024-05-06"},
        "t": {"__type__": "time", "__value__": "07:08:00"},
        "dec": {"__type__": "decimal", "__value__": "1.5"},
        "u": {"__type__": "uuid", "__value__": {"hex": UUID.hex}},
        "b": {"__type__": "bytes", "__value__": "hi"},
        "b64": {"__type__": "base64", "__value__": "/w=="},
    }


def test_reads_kombu5_written_envelopes():
    text = '{"u": {"__type__": "uuid", "__value__": {"hex": "HEX"}}, "x": {"__type__": "decimal", "__value__": "2"}}'
    text = text.replace("HEX", UUID.hex)
    assert loads(text) == {"u": UUID, "x": Decimal(2)}


def test_unknown_marker_raises_value_error():
    with pytest.raises(ValueError):
        loads('{"__type__": "nope", "__value__": 1}')


def test_objects_that_only_look_similar_are_left_alone():
    doc = {"__type__": "datetime", "__value__": "x", "other": 1}
    assert loads(dumps(doc)) == doc


def test_unserializable_raises_type_error():
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_json_reducer_method():
    class Point:
        def __json__(self):
            return [1, 2]

    assert loads(dumps({"p": Point()})) == {"p": [1, 2]}


def test_register_type():
    class Money:
        def __init__(self, cents):
            self.cents = cents

    register_type(Money, "test.money", lambda m: m.cents, Money)
    result = loads(dumps([Money(250)]))
    assert isinstance(result[0], Money) and result[0].cents == 250


def test_dumps_passes_options_and_encoder_class():
    assert dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a": 2, "b": 1}'
    assert dumps({"a": 1}, default_kwargs={"separators": (",", ":")}) == '{"a":1}'
    assert stdjson.dumps({"d": Decimal(1)}, cls=JSONEncoder) == '{"d": {"__type__": "decimal", "__value__": "1"}}'


def test_loads_bytes_without_decoding():
    assert loads(b'{"a": {"__type__": "decimal", "__value__": "1"}}', decode_bytes=False) == {"a": Decimal(1)}
    assert loads(b'{"a": 1}', decode_bytes=False) == {"a": 1}
