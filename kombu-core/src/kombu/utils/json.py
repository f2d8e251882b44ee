"""JSON with support for dates, times, UUIDs, decimals and bytes.

Values JSON cannot represent are written as ``{"__type__": marker,
"__value__": value}`` objects, the same envelope Kombu 5 writes, so either
side of a mixed fleet reads the other's messages:

=================  ============  ==========================================
Python type        marker        ``__value__``
=================  ============  ==========================================
``datetime``       ``datetime``  ISO 8601 text (``datetime.isoformat()``)
``date``           ``date``      ISO 8601 text
``time``           ``time``      ISO 8601 text
``Decimal``        ``decimal``   ``str(value)``
``UUID``           ``uuid``      ``{"hex": "<32 hex digits>"}``
``bytes``          ``bytes``     the UTF-8 text, or with marker ``base64``
                                 the base64 text when not valid UTF-8
=================  ============  ==========================================

An object with a ``__json__()`` method is encoded as what that returns.
:func:`register_type` adds more types.

Plain payloads (dicts, lists, strings, numbers) cost nothing extra: the
encoder hook only runs for values ``json`` cannot encode itself, and
:func:`loads` skips the object hook for documents without a ``__type__`` key.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

__all__ = ("JSONEncoder", "dumps", "loads", "object_hook", "register_type", "textual_types")

T = TypeVar("T")

#: Types encoded as their ``str()`` (e.g. Django's lazy translation strings).
textual_types: tuple[type, ...] = ()

_encoders: dict[type, tuple[str, Callable[[Any], Any]]] = {}
_decoders: dict[str, Callable[[Any], Any]] = {
    "bytes": lambda value: value.encode("utf-8"),
    "base64": lambda value: base64.b64decode(value.encode("utf-8")),
}


def _envelope(marker: str, value: Any) -> dict[str, Any]:
    return {"__type__": marker, "__value__": value}


def _default(o: Any) -> Any:
    """Encode a value the ``json`` module cannot encode itself."""
    reducer = getattr(o, "__json__", None)
    if reducer is not None:
        return reducer()
    if textual_types and isinstance(o, textual_types):
        return str(o)
    entry = _encoders.get(type(o))
    if entry is None:
        for registered, candidate in _encoders.items():
            if isinstance(o, registered):
                entry = candidate
                break
    if entry is not None:
        marker, encoder = entry
        return _envelope(marker, encoder(o))
    if isinstance(o, (bytes, bytearray, memoryview)):
        raw = bytes(o)
        try:
            return _envelope("bytes", raw.decode("utf-8"))
        except UnicodeDecodeError:
            return _envelope("base64", base64.b64encode(raw).decode("utf-8"))
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class JSONEncoder(json.JSONEncoder):
    """A :class:`json.JSONEncoder` that knows the types listed in this module."""

    def default(self, o: Any) -> Any:
        return _default(o)


_default_encoder = json.JSONEncoder(default=_default)
_encode = _default_encoder.encode


def dumps(
    s: Any,
    _dumps: Callable[..., str] = json.dumps,
    cls: type[json.JSONEncoder] = JSONEncoder,
    default_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """Serialize ``s`` to a JSON ``str``.

    Extra keyword arguments go to :func:`json.dumps` (``default_kwargs`` are
    merged under them); ``cls`` replaces the encoder class.
    """
    if not kwargs and not default_kwargs and cls is JSONEncoder and _dumps is json.dumps:
        return _encode(s)
    options = dict(default_kwargs or {}, **kwargs)
    return _dumps(s, cls=cls, **options)


def object_hook(o: dict[str, Any]) -> Any:
    """Turn a ``{"__type__": ..., "__value__": ...}`` object back into its value.

    Any other object is returned unchanged. An envelope with an unknown marker
    raises :class:`ValueError`.
    """
    if len(o) == 2 and "__type__" in o and "__value__" in o:
        decoder = _decoders.get(o["__type__"])
        if decoder is None:
            raise ValueError(f"Unsupported type in JSON envelope: {o['__type__']!r}")
        return decoder(o["__value__"])
    return o


def loads(
    s: str | bytes | bytearray | memoryview,
    _loads: Callable[..., Any] = json.loads,
    decode_bytes: bool = True,
    object_hook: Callable[[dict[str, Any]], Any] | None = object_hook,
) -> Any:
    """Deserialize JSON text (``str`` or UTF-8 bytes) into Python objects.

    Envelopes written by :func:`dumps` become their original types again.
    """
    if isinstance(s, memoryview):
        s = s.tobytes().decode("utf-8")
    elif isinstance(s, bytearray) or decode_bytes and isinstance(s, bytes):
        s = s.decode("utf-8")
    marker = "__type__" if isinstance(s, str) else b"__type__"
    if object_hook is None or marker not in s:  # type: ignore[operator]
        return _loads(s)
    return _loads(s, object_hook=object_hook)


def register_type(
    t: type[T],
    marker: str,
    encoder: Callable[[T], Any],
    decoder: Callable[[Any], T],
) -> None:
    """Teach :func:`dumps`/:func:`loads` a new type.

    ``encoder(value)`` returns something JSON can hold, written under
    ``marker``; ``decoder(encoded)`` rebuilds the value when reading.
    Registering a marker again replaces it.
    """
    _encoders[t] = (marker, encoder)
    _decoders[marker] = decoder


def _register_default_types() -> None:
    # datetime before date: a datetime is also a date.
    register_type(datetime, "datetime", datetime.isoformat, datetime.fromisoformat)
    register_type(date, "date", date.isoformat, lambda v: datetime.fromisoformat(v).date())
    register_type(time, "time", time.isoformat, time.fromisoformat)
    register_type(Decimal, "decimal", str, Decimal)
    register_type(uuid.UUID, "uuid", lambda u: {"hex": u.hex}, lambda v: uuid.UUID(**v))


_register_default_types()
