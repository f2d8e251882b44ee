"""Which redis-py code path the transport takes: fast (internals) or public.

The pipelined link (:mod:`.link`), the waits of :mod:`.consumer` and the
event-loop integration (:mod:`.eventloop`) need each connection's socket:
to know whether it is connected, to ``select`` on several connections at
once, to watch it from the hub and to change its timeout. redis-py keeps it
in the private ``Connection._sock``. :class:`FastPath` uses it, only for the
redis-py versions it is tested with (:data:`TESTED_RANGE`) and only when the
attribute exists. :class:`PublicPath` uses redis-py's public API only:
``Connection.is_connected`` and ``can_read(timeout)``; several connections
are waited on in short turns and the hub polls them on a timer (a little
more latency and CPU when idle; the same messages, the same guarantees).
One look remains, read defensively with ``getattr``: the lease keeper's
check, from its own thread, that the server has not closed the consumer's
connection (:meth:`PublicPath.peer_closed`); redis-py has no public
equivalent, and without the attribute the check only sees ``is_connected``.

The transport option ``client_fast_path`` forces the choice: ``True``,
``False`` or ``"auto"`` (default).
"""

from __future__ import annotations

import inspect
import logging
import re
import select
import socket
import time
from collections.abc import Sequence
from typing import Any

import redis
from kombu.utils.options import auto_flag
from redis import connection as redis_connection

__all__ = ("TESTED_RANGE", "take_connection", "FastPath", "PublicPath", "choose", "in_tested_range")

logger = logging.getLogger(__name__)

#: redis-py versions the fast path is tested with: ``>=5,<9``.
TESTED_RANGE: tuple[tuple[int, ...], tuple[int, ...]] = ((5, 0), (9, 0))
#: Longest single ``can_read`` while the public path waits on several connections.
TURN = 0.02

_logged: set[tuple[str, str]] = set()


class FastPath:
    """redis-py's private ``Connection._sock``: one ``select`` over every connection."""

    name = "fast"

    def connected(self, conn: Any) -> bool:
        """Whether ``conn`` has an open socket."""
        return conn._sock is not None

    def set_timeout(self, conn: Any, timeout: float | None) -> None:
        """Socket timeout for what ``conn`` does next (its open socket too)."""
        conn.socket_timeout = timeout
        sock = conn._sock
        if sock is not None:
            sock.settimeout(timeout)

    def wait(self, conns: Sequence[Any], timeout: float) -> list[Any]:
        """The connections of ``conns`` with something to read within ``timeout`` s."""
        ready = [c for c in conns if c.can_read(0)]
        if ready:
            return ready
        by_sock = {c._sock: c for c in conns if c._sock is not None}
        if not by_sock:
            return []
        readable, _, _ = select.select(list(by_sock), [], [], max(timeout, 0))
        return [by_sock[s] for s in readable]

    def fileno(self, conn: Any) -> Any:
        """What the hub watches for ``conn`` (``None``: not connected)."""
        return conn._sock

    def peer_closed(self, conn: Any) -> bool:
        """Whether the server closed ``conn`` (a peek; safe from another thread)."""
        sock = conn._sock
        return True if sock is None else _peek_closed(sock)


class PublicPath(FastPath):
    """redis-py's public API only: ``is_connected`` and ``can_read``."""

    name = "public"

    def connected(self, conn: Any) -> bool:
        return bool(conn.is_connected)

    def set_timeout(self, conn: Any, timeout: float | None) -> None:
        # An open socket keeps its timeout (no public way to change it).
        conn.socket_timeout = timeout

    def wait(self, conns: Sequence[Any], timeout: float) -> list[Any]:
        live = [c for c in conns if c.is_connected]
        if not live:
            return []
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            ready = [c for c in live if c.can_read(0)]
            left = deadline - time.monotonic()
            if ready or left <= 0:
                return ready
            if len(live) == 1:
                return live if live[0].can_read(left) else []
            turn = min(left, TURN) / len(live)
            for c in live:
                if c.can_read(turn):
                    return [c]

    def fileno(self, conn: Any) -> Any:
        return None

    def peer_closed(self, conn: Any) -> bool:
        # The one look at a private attribute on this path, read defensively:
        # redis-py has no public way to see, from another thread, that the
        # server closed the socket. Without it a cut connection is noticed
        # only by its owner's next read.
        if not conn.is_connected:
            return True
        sock = getattr(conn, "_sock", None)
        return False if sock is None else _peek_closed(sock)


_NEEDS_COMMAND_NAME: dict[type, bool] = {}


def take_connection(pool: Any) -> Any:
    """``pool.get_connection()``, on every supported redis-py.

    redis-py before 5.3 requires a command name (unused by plain and
    Sentinel pools); later versions deprecate passing one.
    """
    cls = type(pool)
    needs = _NEEDS_COMMAND_NAME.get(cls)
    if needs is None:
        param = inspect.signature(cls.get_connection).parameters.get("command_name")
        needs = param is not None and param.default is inspect.Parameter.empty
        _NEEDS_COMMAND_NAME[cls] = needs
    return pool.get_connection("PING") if needs else pool.get_connection()


def _peek_closed(sock: Any) -> bool:
    """Whether ``sock`` reached end of stream or failed (``MSG_PEEK``, never consumes)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True
    return not data


FAST = FastPath()
PUBLIC = PublicPath()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def in_tested_range(version: str) -> bool:
    """Whether redis-py ``version`` is inside :data:`TESTED_RANGE`."""
    low, high = TESTED_RANGE
    return low <= _version(version) < high


def has_internals() -> bool:
    """Whether redis-py's connections keep their socket in ``_sock``."""
    try:
        # redis-py leaves Connection.__init__ unannotated.
        return hasattr(redis_connection.Connection(), "_sock")  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - a redis-py whose Connection() needs arguments
        return False


def has_public_api() -> bool:
    """Whether redis-py's connections have the public API :class:`PublicPath` needs."""
    cls = redis_connection.Connection
    return all(
        hasattr(cls, name)
        for name in ("is_connected", "can_read", "send_packed_command", "read_response", "connect", "disconnect")
    )


def choose(option: Any = "auto", version: str | None = None) -> FastPath:
    """The path for a transport (logged once per outcome at debug level).

    Raises ``ValueError`` for a bad option, ``RuntimeError`` when the forced
    (or only possible) path cannot work with the installed redis-py.
    """
    forced = auto_flag(option, "client_fast_path")
    version = redis.__version__ if version is None else version
    internals, public = has_internals(), has_public_api()
    if forced is True and not internals:
        raise RuntimeError(f"client_fast_path=True, but redis-py {version} has no Connection._sock")
    if forced is False and not public:
        raise RuntimeError(
            f"client_fast_path=False needs Connection.is_connected, which "
            f"redis-py {version} lacks (use the default, 'auto')"
        )
    if forced is not None:
        path, why = (FAST if forced else PUBLIC), f"forced by client_fast_path={forced}"
    elif internals and in_tested_range(version):
        path, why = FAST, "inside the tested range"
    elif public:
        path, why = PUBLIC, ("outside the tested range >=5,<9" if internals else "no Connection._sock")
    elif internals:
        path, why = FAST, "outside the tested range, but redis-py has no public alternative"
    else:
        raise RuntimeError(f"redis-py {version} has neither Connection._sock nor is_connected")
    if (version, path.name) not in _logged:
        _logged.add((version, path.name))
        logger.debug("redis: redis-py %s: %s path (%s)", version, path.name, why)
    return path
