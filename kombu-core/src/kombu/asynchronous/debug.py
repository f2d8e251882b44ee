"""Human-readable descriptions of a :class:`~kombu.asynchronous.Hub`'s state, for debugging."""

from __future__ import annotations

from typing import Any

from kombu.utils.eventio import ERR, READ, WRITE
from kombu.utils.functional import reprcall

__all__ = ("repr_flag", "repr_active", "repr_events", "repr_readers", "repr_writers", "callback_for")


def repr_flag(flag: int) -> str:
    """Return ``"R"``, ``"W"``, ``"!"`` (error) or a combination for an event mask."""
    text = ("R" if flag & READ else "") + ("W" if flag & WRITE else "") + ("!" if flag & ERR else "")
    return text or "?"


def _rcb(obj: Any) -> str:
    """Name a callback (or a ``(callback, args)`` pair) briefly."""
    if obj is None:
        return "<missing>"
    if isinstance(obj, tuple):
        fun, args = obj
        return reprcall(getattr(fun, "__qualname__", repr(fun)), args)
    return getattr(obj, "__qualname__", None) or repr(obj)


def callback_for(h: Any, fd: int, flag: int, *default: Any) -> Any:
    """Return the handler of ``fd`` for ``flag`` (reader for READ/ERR, writer for WRITE).

    Raises ``KeyError`` if there is none, unless a ``default`` is given.
    """
    try:
        if flag & READ:
            return h.readers[fd]
        if flag & WRITE:
            if fd in h.consolidate:
                return h.consolidate_callback
            return h.writers[fd]
        if flag & ERR:
            return h.readers.get(fd) or h.writers[fd]
    except KeyError:
        if default:
            return default[0]
        raise
    raise KeyError(fd)


def repr_readers(h: Any) -> list[str]:
    """Describe each watched reader: ``"fd(R)->callback"``."""
    return [f"({fd}){repr_flag(READ | ERR)}->{_rcb(cb)}" for fd, cb in h.readers.items()]


def repr_writers(h: Any) -> list[str]:
    """Describe each watched writer: ``"fd(W)->callback"``."""
    return [f"({fd}){repr_flag(WRITE)}->{_rcb(cb)}" for fd, cb in h.writers.items()]


def repr_active(h: Any) -> str:
    """Describe every watched descriptor of hub ``h``."""
    return ", ".join(repr_readers(h) + repr_writers(h))


def repr_events(h: Any, events: list[tuple[int, int]]) -> str:
    """Describe poll results ``[(fd, mask), ...]`` with the callbacks they go to."""
    return ", ".join(f"{fd}({repr_flag(mask)})->{_rcb(callback_for(h, fd, mask, None))}" for fd, mask in events)
