"""A Redis connection whose replies are read later: pipelining across calls.

:class:`Link` owns one redis-py ``Connection``. ``send()`` writes a command
to the socket and returns at once; its reply is read later, in order, by the
next ``call()`` (a command whose answer is needed now), by ``flush()``, or
when too many replies are outstanding. Publishing and acknowledging this way
costs one socket write per message instead of one round trip.

Guarantees:

* Commands reach the server in the order they were sent.
* A command sent with ``resend=True`` (publishes, acks, ack records) is kept
  until its reply arrives. If the connection breaks first, it is sent again
  on the next connection (so it may run twice: at-least-once). Only the
  commands that went unanswered are re-sent.
* An error reply to a sent command (say ``WRONGTYPE``) is raised by the next
  ``call()``/``flush()`` on the link; it never passes silently.
* ``EVALSHA`` of a script the server forgot (restart, ``SCRIPT FLUSH``) is
  retried as ``EVAL`` transparently.

Not thread-safe: one link belongs to one Kombu connection, like the
connection itself.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

from .client_path import FAST, FastPath, take_connection
from .scripts import ALL, Script

__all__ = ("Link", "Pending")

logger = logging.getLogger(__name__)

_BY_SHA = {s.sha: s for s in ALL}

#: Read the replies already available every this many sends.
SOFT_PENDING = 32
#: Block reading replies once this many are outstanding.
HARD_PENDING = 2048
#: A publish after this many seconds without traffic waits for its reply.
IDLE_CONFIRM = 0.002


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (the Redis protocol); faster than redis-py's generic packer."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            b = a.encode()
        elif isinstance(a, bytes):
            b = a
        elif isinstance(a, int):
            b = b"%d" % a
        elif isinstance(a, float):
            b = repr(a).encode()
        else:
            b = str(a).encode()
        out.append(b"$%d\r\n" % len(b))
        out.append(b)
        out.append(b"\r\n")
    return b"".join(out)


def pack_many(commands: Iterable[tuple[Any, ...]]) -> bytes:
    return b"".join([pack(c) for c in commands])


class Pending:
    """A command sent but not yet answered."""

    __slots__ = ("args", "callback", "resend")

    def __init__(self, args: tuple[Any, ...], callback: Callable[[Any], None] | None, resend: bool) -> None:
        self.args = args
        self.callback = callback
        self.resend = resend


class Link:
    """One pipelined Redis connection taken from ``pool``.

    Args:
        pool: a redis-py connection pool (plain, TLS, unix socket or a
            Sentinel-managed one) the connection is taken from.
        scripts: Lua scripts loaded on every (re)connect.
    """

    def __init__(
        self, pool: Any, scripts: Iterable[Script] = ALL, carry: Iterable[Pending] = (), path: FastPath = FAST
    ) -> None:
        self.pool = pool
        #: How redis-py connections are looked at (:mod:`.client_path`).
        self.path = path
        self._connected = path.connected
        self.scripts = tuple(scripts)
        self.conn: Any = None
        #: Unanswered commands; ``carry`` are those a previous link of the
        #: same transport left unanswered (re-sent on connect).
        self.pending: deque[Pending] = deque(p for p in carry if p.resend)
        self._deferred: BaseException | None = None
        self._sends = 0
        self.last_io = 0.0
        #: Publishes sent after this many idle seconds wait for their reply
        #: (0: every publish waits: ``confirm_publish`` transport option).
        self.idle_confirm = IDLE_CONFIRM

    # -- connection -------------------------------------------------------------
    def connect(self) -> Any:
        """Return the live connection, connecting (and re-sending) if needed."""
        conn = self.conn
        if conn is not None and self._connected(conn):
            return conn
        if conn is None:
            conn = take_connection(self.pool)
            self.conn = conn
        try:
            conn.connect()
            self._load_scripts(conn)
        except BaseException:
            self._drop()
            raise
        if self.pending:
            self._resend(conn)
        return conn

    @contextmanager
    def bounded(self, timeout: float | None) -> Iterator[None]:
        """Bound every read and write inside the block by ``timeout`` seconds.

        Used around connecting: the handshake (AUTH, SELECT, script loading,
        PING) with a server that accepts TCP but never answers then fails
        within the connect timeout, not the (longer) socket timeout.
        """
        kwargs = getattr(self.pool, "connection_kwargs", None)
        if not timeout or kwargs is None:
            yield
            return
        before = kwargs.get("socket_timeout")
        bound = timeout if before is None else min(before, timeout)
        kwargs["socket_timeout"] = bound  # for a connection made inside the block
        conn = self.conn
        if conn is not None:
            self.path.set_timeout(conn, bound)
        try:
            yield
        finally:
            kwargs["socket_timeout"] = before
            conn = self.conn
            if conn is not None:
                self.path.set_timeout(conn, before)

    def _load_scripts(self, conn: Any) -> None:
        if not self.scripts:
            return
        packed = conn.pack_commands([("SCRIPT", "LOAD", s.source) for s in self.scripts])
        conn.send_packed_command(packed, check_health=False)
        for _ in self.scripts:
            conn.read_response()

    def _resend(self, conn: Any) -> None:
        old, self.pending = self.pending, deque()
        for entry in old:
            if entry.resend:
                self.pending.append(entry)
        if self.pending:
            logger.info("redis: re-sending %d unanswered commands after reconnect", len(self.pending))
            packed = [pack_many([p.args for p in self.pending])]
            try:
                conn.send_packed_command(packed, check_health=False)
            except BaseException:
                self._drop()
                raise

    def _drop(self) -> None:
        """Forget the socket (keeping unanswered commands for the next one)."""
        conn = self.conn
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:  # noqa: BLE001 - best effort on a broken socket
                pass

    def adopt(self, entries: list[Pending]) -> None:
        """Queue another link's unanswered commands; sent now if connected, else on connect."""
        self.pending.extend(entries)
        conn = self.conn
        if conn is not None and self._connected(conn):
            try:
                conn.send_packed_command([pack_many([e.args for e in entries])], check_health=False)
            except BaseException:
                self._drop()
                raise

    def unanswered(self) -> list[Pending]:
        """The re-sendable commands still waiting for a reply."""
        return [p for p in self.pending if p.resend]

    def close(self) -> None:
        """Disconnect and give the connection back to its pool."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.disconnect()
            finally:
                try:
                    self.pool.release(conn)
                except Exception:  # noqa: BLE001
                    pass

    @property
    def connected(self) -> bool:
        return self.conn is not None and self._connected(self.conn)

    # -- sending ----------------------------------------------------------------
    def send(self, *args: Any, callback: Callable[[Any], None] | None = None, resend: bool = True) -> None:
        """Write one command; its reply is read later (see the module doc)."""
        conn = self.conn
        if conn is None or not self._connected(conn):
            conn = self.connect()
        entry = Pending(args, callback, resend)
        self.pending.append(entry)
        try:
            conn.send_packed_command([pack(args)], check_health=False)
        except BaseException:
            if not resend:
                self.pending.remove(entry)
            self._drop()
            raise
        self._sends += 1
        self.last_io = time.monotonic()
        if len(self.pending) >= SOFT_PENDING and not self._sends % 16:
            self._read_available()

    def publish(self, *args: Any) -> None:
        """Send a publishing command: pipelined in a burst, confirmed after a pause.

        The first publish after :data:`IDLE_CONFIRM` seconds of silence waits
        for its reply, so a connection that died while idle is found out by
        the publish itself (whose caller can retry, e.g. ``Connection.ensure``)
        rather than swallowing the message. Later publishes of a burst are
        pipelined; if the connection breaks under them they are re-sent on
        the next connection.
        """
        if time.monotonic() - self.last_io >= self.idle_confirm:
            self.call(*args)
        else:
            self.send(*args)

    def send_many(self, commands: list[tuple[Any, ...]], resend: bool = True) -> None:
        """Write several commands in one socket write; replies read later."""
        if not commands:
            return
        conn = self.conn
        if conn is None or not self._connected(conn):
            conn = self.connect()
        entries = [Pending(c, None, resend) for c in commands]
        self.pending.extend(entries)
        try:
            conn.send_packed_command([pack_many(commands)], check_health=False)
        except BaseException:
            if not resend:
                for e in entries:
                    self.pending.remove(e)
            self._drop()
            raise

    def send_batch(self, entries: list[Pending]) -> None:
        """Write several commands (each with its callback/resend) in one socket write."""
        if not entries:
            return
        conn = self.conn
        if conn is None or not self._connected(conn):
            conn = self.connect()
        self.pending.extend(entries)
        try:
            conn.send_packed_command([pack_many([e.args for e in entries])], check_health=False)
        except BaseException:
            for e in entries:
                if not e.resend:
                    self.pending.remove(e)
            self._drop()
            raise
        self.last_io = time.monotonic()

    def call(self, *args: Any) -> Any:
        """Run one command and return its reply (reading every earlier reply first)."""
        box: list[Any] = []
        self.send(*args, callback=box.append, resend=False)
        self.flush()
        return box[0] if box else None

    def call_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Run several commands in one round trip; their replies in order.

        A command answered with an error gives the exception object in its
        place instead of raising (so that the others' replies are not lost).
        """
        out: list[Any] = [None] * len(commands)
        conn = self.conn
        if conn is None or not self._connected(conn):
            conn = self.connect()
        entries = []
        for i, c in enumerate(commands):
            entries.append(Pending(c, _Slot(out, i), False))
        self.pending.extend(entries)
        try:
            conn.send_packed_command([pack_many(commands)], check_health=False)
        except BaseException:
            for e in entries:
                self.pending.remove(e)
            self._drop()
            raise
        self.flush(raise_deferred=True, capture=True)
        return out

    # -- reading ----------------------------------------------------------------
    def flush(self, raise_deferred: bool = True, capture: bool = False) -> None:
        """Read every outstanding reply; raise a deferred error reply, if any."""
        while self.pending:
            self._read_one(capture)
        if raise_deferred and self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc

    def _read_available(self) -> None:
        conn = self.conn
        while self.pending and conn is not None and self._connected(conn) and conn.can_read(0):
            self._read_one(False)
        while len(self.pending) > HARD_PENDING:
            self._read_one(False)

    def _read_one(self, capture: bool) -> None:
        conn = self.conn
        if conn is None or not self._connected(conn):
            conn = self.connect()
        entry = self.pending[0]
        try:
            reply = conn.read_response()
        except NoScriptError:
            self.pending.popleft()
            self._retry_as_eval(entry)
            return
        except ResponseError as exc:
            self.pending.popleft()
            if capture and isinstance(entry.callback, _Slot):
                entry.callback(exc)
            elif self._deferred is None:
                self._deferred = exc
            return
        except BaseException:
            # Connection broken: unanswered commands stay queued for re-send;
            # those whose caller waits for the answer are dropped (the caller
            # gets this error).
            self._drop()
            self.pending = deque(p for p in self.pending if p.resend)
            raise
        self.pending.popleft()
        self.last_io = time.monotonic()
        if entry.callback is not None:
            entry.callback(reply)

    def _retry_as_eval(self, entry: Pending) -> None:
        args = entry.args
        script = _BY_SHA.get(str(args[1])) if args and args[0] == "EVALSHA" else None
        if script is None:
            exc = NoScriptError("NOSCRIPT for an unknown script")
            if self._deferred is None:
                self._deferred = exc
            return
        conn = self.conn
        retry = Pending(("EVAL", script.source, *args[2:]), entry.callback, entry.resend)
        # Keep reply order: the retried command is answered after everything
        # already in flight, so read those first.
        while self.pending:
            self._read_one(False)
        self.pending.append(retry)
        conn.send_packed_command([pack(retry.args)], check_health=False)
        self._read_one(isinstance(entry.callback, _Slot))
        # Reload the scripts so later EVALSHAs succeed.
        self._load_scripts(conn)

    def evalsha(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run ``script`` now and return its result."""
        return self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    def send_script(
        self,
        script: Script,
        keys: list[str],
        args: list[Any],
        callback: Callable[[Any], None] | None = None,
        resend: bool = True,
    ) -> None:
        """Send ``script``; its result is read later (passed to ``callback``)."""
        self.send("EVALSHA", script.sha, len(keys), *keys, *args, callback=callback, resend=resend)


class _Slot:
    """Callback storing a reply at one index of a list (for :meth:`Link.call_many`)."""

    __slots__ = ("out", "i")

    def __init__(self, out: list[Any], i: int) -> None:
        self.out = out
        self.i = i

    def __call__(self, reply: Any) -> None:
        self.out[self.i] = reply
