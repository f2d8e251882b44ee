"""AMQP 0-9-1 field-table encoding, shared by both transports.

The wire types chosen per Python type are py-amqp's (and so Kombu 5's on
RabbitMQ), so a header table written by either transport is byte for byte
what Kombu 5 writes:

==================  =========  ==============================================
Python              type code  notes
==================  =========  ==============================================
``str``/``bytes``   ``S``      long string (``str`` as UTF-8)
``bool``            ``t``
``int``             ``I``/``L`` 32-bit when it fits, else 64-bit
``float``           ``d``      double
``Decimal``         ``D``      scale and 32-bit unscaled value
``datetime``        ``T``      seconds since the epoch (naive = UTC)
``dict``            ``F``      nested table
``list``/``tuple``  ``A``      array
``None``            ``V``      void
==================  =========  ==============================================

Anything else raises ``TypeError`` naming the key.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from struct import Struct
from struct import error as StructError
from typing import Any

__all__ = (
    "encode_table",
    "encode_value",
    "decode_table",
    "decode_value",
    "decode_properties",
    "decode_properties_or_error",
)

_I = Struct(">I")
_B = Struct(">B")
_int32 = Struct(">ci").pack
_int64 = Struct(">cq").pack
_double = Struct(">cd").pack
_stamp = Struct(">cQ").pack
_decimal = Struct(">cBi").pack
_long_str = Struct(">cI").pack


def encode_value(value: Any) -> bytes:
    """One field value with its type code."""
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return _long_str(b"S", len(raw)) + raw
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return _long_str(b"S", len(raw)) + raw
    if isinstance(value, bool):
        return b"t\x01" if value else b"t\x00"
    if isinstance(value, int):
        if -2147483647 <= value <= 2147483647:
            return _int32(b"I", value)
        return _int64(b"L", value)
    if isinstance(value, float):
        return _double(b"d", value)
    if isinstance(value, Decimal):
        sign, digits, exponent = value.as_tuple()
        unscaled = 0
        for digit in digits:
            unscaled = unscaled * 10 + digit
        if sign:
            unscaled = -unscaled
        return _decimal(b"D", -int(exponent), unscaled)
    if isinstance(value, datetime):
        return _stamp(b"T", calendar.timegm(value.utctimetuple()))
    if isinstance(value, Mapping):
        return b"F" + encode_table(value)
    if isinstance(value, Sequence):
        body = b"".join(encode_value(item) for item in value)
        return b"A" + _I.pack(len(body)) + body
    if value is None:
        return b"V"
    raise TypeError(f"cannot encode {type(value).__name__} in an AMQP table: {value!r}")


def encode_table(table: Mapping[str, Any]) -> bytes:
    """A field table with its 4-byte length prefix."""
    parts = []
    for key, value in table.items():
        raw = key.encode("utf-8", "surrogatepass") if isinstance(key, str) else bytes(key)
        if len(raw) > 255:
            raise ValueError(f"table key longer than 255 bytes: {key!r}")
        try:
            parts.append(_B.pack(len(raw)) + raw + encode_value(value))
        except TypeError as exc:
            raise TypeError(f"header {key!r}: {exc}") from None
    body = b"".join(parts)
    return _I.pack(len(body)) + body


# -- decoding ---------------------------------------------------------------------------
# Results match py-amqp's decoder exactly (so both transports hand the
# application the same values): ``S`` -> str (bytes when not UTF-8),
# ``x`` -> bytes, ``T`` -> naive UTC datetime, ``D`` -> Decimal, floats stay
# floats.

_FIXED: dict[int, Struct] = {
    ord("s"): Struct(">h"),
    ord("b"): Struct(">b"),
    ord("B"): Struct(">B"),
    ord("U"): Struct(">h"),
    ord("u"): Struct(">H"),
    ord("I"): Struct(">i"),
    ord("i"): Struct(">I"),
    ord("L"): Struct(">q"),
    ord("l"): Struct(">q"),
    ord("f"): Struct(">f"),
    ord("d"): Struct(">d"),
}
_U32 = Struct(">I")
_U64 = Struct(">Q")
_S32 = Struct(">i")
_U16 = Struct(">H")


def _text(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return raw


def decode_value(buf: bytes, offset: int) -> tuple[Any, int]:
    """Decode one typed field value at ``offset``; returns ``(value, next offset)``."""
    kind = buf[offset]
    offset += 1
    fixed = _FIXED.get(kind)
    if fixed is not None:
        return fixed.unpack_from(buf, offset)[0], offset + fixed.size
    if kind in (0x53, 0x78):  # S, x
        size = _U32.unpack_from(buf, offset)[0]
        offset += 4
        raw = bytes(buf[offset : offset + size])
        return (_text(raw) if kind == 0x53 else raw), offset + size
    if kind == 0x74:  # t
        return bool(buf[offset]), offset + 1
    if kind == 0x44:  # D
        scale = buf[offset]
        unscaled = _S32.unpack_from(buf, offset + 1)[0]
        return Decimal(unscaled) / Decimal(10**scale), offset + 5
    if kind == 0x54:  # T
        seconds = _U64.unpack_from(buf, offset)[0]
        stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)
        return stamp, offset + 8
    if kind == 0x46:  # F
        return decode_table(buf, offset)
    if kind == 0x41:  # A
        size = _U32.unpack_from(buf, offset)[0]
        offset += 4
        end = offset + size
        items = []
        while offset < end:
            item, offset = decode_value(buf, offset)
            items.append(item)
        return items, offset
    if kind == 0x56:  # V
        return None, offset
    raise ValueError(f"unknown field type {chr(kind)!r} in AMQP table")


def decode_table(buf: bytes, offset: int) -> tuple[dict[Any, Any], int]:
    """Decode a length-prefixed field table; returns ``(dict, next offset)``."""
    size = _U32.unpack_from(buf, offset)[0]
    offset += 4
    end = offset + size
    table: dict[Any, Any] = {}
    while offset < end:
        klen = buf[offset]
        key = _text(bytes(buf[offset + 1 : offset + 1 + klen]))
        offset += 1 + klen
        table[key], offset = decode_value(buf, offset)
    return table, offset


_SHORTSTR_FLAGS = (
    (0x8000, "content_type"),
    (0x4000, "content_encoding"),
)
_AFTER_HEADERS = (
    (0x1000, "delivery_mode", "o"),
    (0x0800, "priority", "o"),
    (0x0400, "correlation_id", "s"),
    (0x0200, "reply_to", "s"),
    (0x0100, "expiration", "s"),
    (0x0080, "message_id", "s"),
    (0x0040, "timestamp", "T"),
    (0x0020, "type", "s"),
    (0x0010, "user_id", "s"),
    (0x0008, "app_id", "s"),
    (0x0004, "cluster_id", "s"),
)


def decode_properties_or_error(buf: bytes, offset: int = 0) -> tuple[dict[str, Any], Exception | None]:
    """:func:`decode_properties` that never raises for bad input.

    Returns ``(properties, None)`` for valid properties. For properties that
    are not (a short string that is not UTF-8, a truncated or corrupt
    table), returns what can be read (text decoded with ``surrogateescape``,
    ``{}`` when even that fails) and a :class:`kombu.exceptions.DecodeError`
    naming the problem, so that the message can still be handed to the
    consumer, which rejects it, instead of the error breaking the connection.
    """
    try:
        return decode_properties(buf, offset), None
    except (ValueError, IndexError, StructError) as exc:
        from kombu.exceptions import DecodeError

        error = DecodeError(f"undecodable message properties: {exc}")
        error.__cause__ = exc
    try:
        return decode_properties(buf, offset, "surrogateescape"), error
    except (ValueError, IndexError, StructError):
        return {}, error


def decode_properties(buf: bytes, offset: int = 0, text_errors: str = "surrogatepass") -> dict[str, Any]:
    """Decode Basic content-header properties (flags + list) into py-amqp's dict.

    Short strings are UTF-8 (``text_errors`` is the codec's error handler);
    bad input raises ``UnicodeDecodeError``, ``ValueError``, ``IndexError``
    or ``struct.error``.
    """
    flags = _U16.unpack_from(buf, offset)[0]
    offset += 2
    props: dict[str, Any] = {}
    for bit, name in _SHORTSTR_FLAGS:
        if flags & bit:
            n = buf[offset]
            props[name] = bytes(buf[offset + 1 : offset + 1 + n]).decode("utf-8", text_errors)
            offset += 1 + n
    if flags & 0x2000:
        props["application_headers"], offset = decode_table(buf, offset)
    for bit, name, kind in _AFTER_HEADERS:
        if not flags & bit:
            continue
        if kind == "o":
            props[name] = buf[offset]
            offset += 1
        elif kind == "T":
            props[name] = _U64.unpack_from(buf, offset)[0]
            offset += 8
        else:
            n = buf[offset]
            props[name] = bytes(buf[offset + 1 : offset + 1 + n]).decode("utf-8", text_errors)
            offset += 1 + n
    return props
