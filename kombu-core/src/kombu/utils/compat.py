"""Compatibility helpers: after-fork hooks, file descriptors, environment detection."""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from kombu.exceptions import reraise  # Kombu 5 exports it here too

__all__ = (
    "coro",
    "detect_environment",
    "entrypoints",
    "fileno",
    "get_gevent_concurrent_error",
    "maybe_fileno",
    "nested",
    "register_after_fork",
    "reraise",
)

FILENO_ERRORS = (AttributeError, ValueError, OSError)

_after_fork_lock = threading.Lock()
_after_fork_registry: weakref.WeakKeyDictionary[Any, list[Callable[[Any], Any]]] | None = None
_after_fork_by_id: dict[int, tuple[Any, list[Callable[[Any], Any]]]] = {}


def _run_after_fork() -> None:
    registry = _after_fork_registry
    if registry is not None:
        for obj, callbacks in list(registry.items()):
            for callback in callbacks:
                try:
                    callback(obj)
                except Exception:  # noqa: BLE001, S110 - a failing hook must not stop the others
                    pass
    for obj, callbacks in list(_after_fork_by_id.values()):
        for callback in callbacks:
            try:
                callback(obj)
            except Exception:  # noqa: BLE001, S110 - a failing hook must not stop the others
                pass


def register_after_fork(obj: Any, func: Callable[[Any], Any]) -> None:
    """Call ``func(obj)`` in the child process after every ``os.fork()``.

    ``obj`` is held weakly when it supports weak references, so registering
    does not keep it alive; objects that cannot be weakly referenced are held
    for the life of the process. Exceptions from ``func`` are ignored.
    """
    global _after_fork_registry
    with _after_fork_lock:
        if _after_fork_registry is None:
            _after_fork_registry = weakref.WeakKeyDictionary()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_run_after_fork)
        try:
            _after_fork_registry.setdefault(obj, []).append(func)
        except TypeError:  # not weakly referenceable (or not hashable)
            _after_fork_by_id.setdefault(id(obj), (obj, []))[1].append(func)


def fileno(f: Any) -> int:
    """Return the file descriptor of ``f`` (an int is returned as is).

    ``None`` is a ``ValueError`` (as in Kombu 5.7: Celery's
    ``iterate_file_descriptors_safely`` catches ``ValueError``).
    """
    if isinstance(f, int):
        return f
    if f is None:
        raise ValueError("file descriptor is None")
    fd: int = f.fileno()
    return fd


def maybe_fileno(f: Any) -> int | None:
    """Return the file descriptor of ``f``, or ``None`` if it has none."""
    try:
        return fileno(f)
    except FILENO_ERRORS:
        return None


def detect_environment() -> str:
    """Return ``"eventlet"`` or ``"gevent"`` if the socket module is monkey patched, else ``"default"``."""
    socket_module = sys.modules.get("socket")
    if socket_module is not None:
        eventlet = sys.modules.get("eventlet.patcher")
        if eventlet is not None and eventlet.is_monkey_patched(socket_module):
            return "eventlet"
        gevent = sys.modules.get("gevent.socket")
        if gevent is not None and getattr(socket_module, "socket", None) is getattr(gevent, "socket", ()):
            return "gevent"
    return "default"


#: Kombu 5's name for the uncached detection (Celery imports it); here
#: :func:`detect_environment` never caches, so both look afresh each call.
_detect_environment = detect_environment


def entrypoints(namespace: str) -> Iterator[tuple[Any, Any]]:
    """Yield ``(entry_point, loaded_object)`` for every entry point in group ``namespace``."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=namespace):
        yield ep, ep.load()


def coro(gen: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: start a generator-based coroutine (advance it to its first ``yield``)."""

    def wind_up(*args: Any, **kwargs: Any) -> Any:
        it = gen(*args, **kwargs)
        next(it)
        return it

    wind_up.__name__ = getattr(gen, "__name__", "coro")
    wind_up.__doc__ = gen.__doc__
    return wind_up


@contextmanager
def nested(*managers: Any) -> Iterator[tuple[Any, ...]]:
    """Enter every context manager in order; yield their values as a tuple; exit in reverse."""
    with ExitStack() as stack:
        yield tuple(stack.enter_context(manager) for manager in managers)


def get_gevent_concurrent_error() -> type[BaseException] | None:
    """Return gevent's ``ConcurrentObjectUseError`` if gevent is imported, else ``None``."""
    gevent_exceptions = sys.modules.get("gevent.exceptions")
    if gevent_exceptions is None:
        return None
    return getattr(gevent_exceptions, "ConcurrentObjectUseError", None)
