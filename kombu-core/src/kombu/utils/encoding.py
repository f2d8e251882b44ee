"""Text and bytes conversion helpers that never fail on bad input."""

from __future__ import annotations

import sys
from typing import Any

__all__ = (
    "bytes_to_str",
    "default_encode",
    "default_encoding",
    "default_encoding_file",
    "ensure_bytes",
    "from_utf8",
    "get_default_encoding_file",
    "safe_repr",
    "safe_str",
    "set_default_encoding_file",
    "str_to_bytes",
)

#: The file whose encoding :func:`default_encoding` reports (``None``: the
#: filesystem encoding); set with :func:`set_default_encoding_file`.
default_encoding_file: Any = None


def set_default_encoding_file(file: Any) -> None:
    """Make ``file`` the one whose encoding :func:`default_encoding` reports."""
    global default_encoding_file
    default_encoding_file = file


def get_default_encoding_file() -> Any:
    """The file set with :func:`set_default_encoding_file` (``None`` if none)."""
    return default_encoding_file


def default_encoding(file: Any = None) -> str:
    """The encoding of ``file`` (default: :func:`get_default_encoding_file`).

    Falls back to the filesystem encoding when there is no file or it has
    no ``encoding``.
    """
    file = file or get_default_encoding_file()
    return getattr(file, "encoding", None) or sys.getfilesystemencoding()


def str_to_bytes(s: Any) -> Any:
    """Encode ``s`` as UTF-8 if it is a ``str``; return anything else unchanged."""
    if isinstance(s, str):
        return s.encode()
    return s


ensure_bytes = str_to_bytes


def bytes_to_str(s: Any) -> Any:
    """Decode ``s`` as UTF-8 (replacing bad bytes) if it is bytes; return anything else unchanged."""
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s).decode(errors="replace")
    return s


def from_utf8(s: Any, *args: Any, **kwargs: Any) -> Any:
    """Return ``s`` unchanged (kept for compatibility with Python 2 era callers)."""
    return s


def default_encode(obj: Any) -> Any:
    """Return ``obj`` unchanged (kept for compatibility with Kombu)."""
    return obj


def safe_str(s: Any, errors: str = "replace") -> str:
    """Return ``s`` as text without raising: bytes are decoded, other objects ``str()``-ed.

    If converting raises, a ``<Unrepresentable ...>`` placeholder naming the
    error is returned instead.
    """
    if isinstance(s, str):
        return s
    try:
        if isinstance(s, (bytes, bytearray)):
            return bytes(s).decode(default_encoding(), errors)
        return str(s)
    except Exception as exc:  # noqa: BLE001 - must never raise
        return f"<Unrepresentable {type(s)!r}: {exc!r}>"


def safe_repr(o: Any, errors: str = "replace") -> str:
    """Return ``repr(o)`` without raising; fall back to :func:`safe_str` on error."""
    try:
        return repr(o)
    except Exception:  # noqa: BLE001 - must never raise
        return safe_str(o, errors)
