"""The Redis transport (``redis://``, ``rediss://``, ``redis+socket://``, ``sentinel://``).

Also importable as ``kombu.transport.redis`` (Kombu 5's module path), with
Kombu 5's names ``Transport``, ``SentinelTransport``, ``Channel`` and ``QoS``.

Connections: one pipelined command connection per ``kombu.Connection``
(publishes, acks, fetches, declarations), one for ``BRPOP`` while waiting,
one for PUB/SUB once a fanout queue is consumed, and one for the lease
keeper thread once messages are held. See the README for the options.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from typing import Any, NamedTuple, cast

import redis
from kombu.exceptions import InconsistencyError, OperationalError
from kombu.transport import virtual
from kombu.transport.virtual.base import BrokerState
from kombu.transport.virtual.lease import LeaseKeeper
from redis import exceptions as rexc

from . import client_path, lease, scripts
from .channel import Channel, QoS, mark_redelivered
from .conninfo import DEFAULT_PORT, DEFAULT_SENTINEL_PORT, ConnInfo, conninfo_from_client, make_pool
from .consumer import Poller
from .keys import DEFAULT_SEP, PRIORITY_STEPS, KeyLayout
from .link import Link, Pending

__all__ = (
    "Transport",
    "SentinelTransport",
    "Channel",
    "QoS",
    "RedisConnectionError",
    "RedisAuthenticationError",
    "RedisTimeoutError",
    "DEFAULT_PORT",
    "PRIORITY_STEPS",
    "get_redis_error_classes",
    "get_redis_ConnectionError",
    "error_classes_t",
)

logger = logging.getLogger(__name__)


class RedisConnectionError(OperationalError, rexc.ConnectionError):
    """The Redis server cannot be reached (both Kombu's and redis-py's error type)."""


class RedisAuthenticationError(RedisConnectionError, rexc.AuthenticationError):
    """The server refused the credentials (also redis-py's ``AuthenticationError``)."""


class RedisTimeoutError(RedisConnectionError, rexc.TimeoutError):
    """Connecting timed out (also redis-py's ``TimeoutError``)."""


def _connect_error_class(exc: BaseException) -> type[RedisConnectionError]:
    if isinstance(exc, rexc.AuthenticationError):
        return RedisAuthenticationError
    if isinstance(exc, (rexc.TimeoutError, TimeoutError)):
        return RedisTimeoutError
    return RedisConnectionError


class error_classes_t(NamedTuple):
    """Kombu 5's shape: the connection errors and the channel errors."""

    connection_errors: tuple[type[BaseException], ...]
    channel_errors: tuple[type[BaseException], ...]


def get_redis_error_classes() -> error_classes_t:
    """The redis errors to treat as connection / channel errors (Kombu 5's function).

    Celery's redis result backend retries on the first tuple.
    """
    return error_classes_t(Transport.connection_errors + (InconsistencyError, KeyError), Transport.channel_errors)


def get_redis_ConnectionError() -> type[Exception]:
    """redis-py's ``ConnectionError`` (Kombu 5's function)."""
    return rexc.ConnectionError


#: Exchanges and bindings declared in this process, per Redis database.
_STATES: dict[tuple[Any, ...], BrokerState] = {}
_STATES_LOCK = threading.Lock()

_ACK_BATCH = 64

#: Every live transport, so that a forked child can forget its parent's sockets.
_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_TRANSPORTS):
        transport._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Transport(virtual.Transport):
    """Redis transport on the core's virtual engine, wire-compatible with Kombu 5."""

    Channel = Channel
    default_port = DEFAULT_PORT
    driver_type = "redis"
    driver_name = "redis"
    polling_interval = None
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    )
    connection_errors = virtual.Transport.connection_errors + (
        RedisConnectionError,
        RedisAuthenticationError,
        RedisTimeoutError,
        rexc.ConnectionError,
        rexc.TimeoutError,
        rexc.BusyLoadingError,
        rexc.AuthenticationError,
        rexc.ReadOnlyError,
        socket.error,
        OSError,
        EOFError,
    )
    channel_errors = virtual.Transport.channel_errors + (rexc.DataError, rexc.InvalidResponse, rexc.ResponseError)

    #: Defaults of the transport options (Kombu 5's names and values).
    visibility_timeout: float = 3600
    unacked_mutex_expire: int = 300
    unacked_restore_limit: int | None = None
    unacked_restore_interval: float = 10.0
    lease_interval: float | None = None
    brpop_timeout: float = 1.0
    #: Kombu's ``queue_order_strategy``: ``round_robin``, ``sorted`` or ``priority``.
    queue_order_strategy: str = "round_robin"
    max_connections: int = 10

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        opts = dict(client.transport_options or {}) if client is not None else {}
        self.options = opts
        #: exchange -> (a length-limited queue is bound to it, when that was asked).
        self.limited_exchanges: dict[str, tuple[bool, float]] = {}
        scheme = str(getattr(client, "transport_cls", "redis") or "redis")
        self.conninfo: ConnInfo = conninfo_from_client(client, opts, scheme=scheme)
        for name in (
            "visibility_timeout",
            "unacked_mutex_expire",
            "unacked_restore_limit",
            "unacked_restore_interval",
            "lease_interval",
            "max_connections",
            "queue_order_strategy",
        ):
            if opts.get(name) is not None:
                setattr(self, name, opts[name])
        if opts.get("brpop_timeout") is not None:
            self.brpop_timeout = float(opts["brpop_timeout"])
        if opts.get("polling_interval") is not None:
            self.brpop_timeout = float(opts["polling_interval"])
        fanout_prefix = opts.get("fanout_prefix", True)
        if isinstance(fanout_prefix, str):
            prefix_fmt = fanout_prefix
        else:
            prefix_fmt = "/{db}." if fanout_prefix else ""
        self.keys = KeyLayout(
            db=self.conninfo.db,
            prefix=opts.get("global_keyprefix", "") or "",
            sep=opts.get("sep", DEFAULT_SEP),
            steps=tuple(opts.get("priority_steps", PRIORITY_STEPS)),
            # Kombu's order by default (0 is served first: Celery-on-Redis relies
            # on it); "amqp" serves the highest number first.
            high_first=str(opts.get("priority_order", "kombu")).lower() == "amqp",
            fanout_prefix=prefix_fmt,
            fanout_patterns=bool(opts.get("fanout_patterns", True)),
            unacked=opts.get("unacked_key", "unacked"),
            unacked_index=opts.get("unacked_index_key", "unacked_index"),
            unacked_mutex=opts.get("unacked_mutex_key", "unacked_mutex"),
        )
        #: How redis-py connections are looked at: its internals (fast) or its
        #: public API; option ``client_fast_path`` (see :mod:`.client_path`).
        self.client_path = client_path.choose(opts.get("client_fast_path", "auto"))
        self._pool: Any = None
        self._link: Link | None = None
        self._carry: list[Any] = []
        self.poller = Poller(self)
        self._acks: list[str] = []
        self._delivering = False
        self._last_restore = 0.0
        self._last_refresh = 0.0
        self._lease: LeaseKeeper | None = None
        self._lease_lost = False
        self._lease_client: Any = None
        self._state_key = (self.conninfo.describe(), self.keys.prefix)
        wait = str(opts.get("wait_for_messages", "brpop")).lower()
        if wait not in ("brpop", "notify"):
            raise ValueError(f"wait_for_messages must be 'brpop' or 'notify', not {wait!r}")
        self._wait_mode = wait
        self._notify_ok: bool | None = None
        _TRANSPORTS.add(self)

    def notify_mode(self) -> bool:
        """Whether idle consumers wait on keyspace notifications (no pop while waiting).

        Needs ``notify-keyspace-events`` with ``K`` and ``l`` (or ``A``) on
        the server; when it is missing it is switched on with ``CONFIG SET``
        (adding to what is there). Where that is refused, waiting falls back
        to ``BRPOP`` with a warning.
        """
        if self._wait_mode != "notify":
            return False
        if self._notify_ok is None:
            self._notify_ok = self._enable_keyspace_events()
        return self._notify_ok

    def _enable_keyspace_events(self) -> bool:
        try:
            reply = self.link.call("CONFIG", "GET", "notify-keyspace-events")
            current = reply[1].decode() if reply and isinstance(reply[1], bytes) else (reply[1] if reply else "")
            if "K" in current and ("l" in current or "A" in current):
                return True
            flags = "".join(sorted(set(current + "Kl")))
            self.link.call("CONFIG", "SET", "notify-keyspace-events", flags)
            return True
        except rexc.ResponseError as exc:
            logger.warning("redis: keyspace notifications unavailable (%s); waiting with BRPOP", exc)
            return False

    def _forget_after_fork(self) -> None:
        """In a forked child: drop (never close) the parent's sockets and deliveries.

        The sockets belong to the parent: shutting them down here would cut
        the parent's connection, and restoring the parent's deliveries from
        the child would deliver them twice.
        """
        self._link = None
        self._pool = None
        self._lease = None
        self._lease_client = None
        self._carry = []
        self._acks = []
        self.poller = Poller(self)
        for ch in cast("list[Channel]", self.channels):
            ch._inflight.clear()
            ch._buffer.clear()
            if ch._qos is not None:
                ch._qos._delivered.clear()

    # -- shared state and connections ----------------------------------------------
    @property
    def state(self) -> BrokerState:  # type: ignore[override]
        with _STATES_LOCK:
            state = _STATES.get(self._state_key)
            if state is None:
                state = _STATES[self._state_key] = BrokerState()
            return state

    @property
    def pool(self) -> Any:
        if self._pool is None:
            self._pool = make_pool(self.conninfo, max_connections=None)
        return self._pool

    @property
    def link(self) -> Link:
        if self._link is None:
            carry, self._carry = self._carry, []
            self._link = Link(self.pool, carry=carry, path=self.client_path)
            if self.options.get("confirm_publish"):
                self._link.idle_confirm = 0.0
            elif self.options.get("publish_confirm_after") is not None:
                self._link.idle_confirm = float(self.options["publish_confirm_after"])
        return self._link

    def establish_connection(self) -> Transport:
        """Connect (PING) or raise :class:`RedisConnectionError` naming no password."""
        try:
            with self.link.bounded(self.conninfo.socket.get("socket_connect_timeout")):
                self.link.connect()
                self.link.call("PING")
            self.link.last_io = 0.0  # the first publish confirms the new connection
        except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
            self._close_links()
            raise _connect_error_class(exc)(
                f"cannot connect to {self.conninfo.describe()}: {type(exc).__name__}: "
                f"{_scrub(str(exc), self.conninfo.password)}"
            ) from None
        return self

    def close_connection(self, connection: Any) -> None:
        """Close, confirming every publish sent (one reconnect is tried for that).

        Publishes still unconfirmed when the server cannot be reached are
        kept: :meth:`take_unconfirmed` gives them to the ``Connection``,
        which re-sends them if it connects again.
        """
        try:
            super().close_connection(connection)
            self.flush_acks()
        except self.connection_errors:
            pass
        try:
            self._confirm_window()
        finally:
            self._close_links()

    def _confirm_window(self) -> None:
        link = self._link
        if link is None or not (link.pending or self._carry):
            return
        for attempt in (1, 2):
            try:
                if attempt == 2 or not link.connected:
                    link.connect()  # re-sends the unanswered publishes
                link.flush(raise_deferred=False)
                return
            except self.connection_errors as exc:
                if attempt == 2:
                    logger.warning(
                        "redis: %d publishes unconfirmed at close (%s); kept for this Connection's next connect",
                        len(link.unanswered()),
                        type(exc).__name__,
                    )

    def _collect(self, connection: Any) -> None:
        """Drop every socket and thread without I/O (``Connection.collect``).

        The unanswered publishes are kept for :meth:`take_unconfirmed`.
        """
        self._close_links(flush=False)

    def take_unconfirmed(self) -> list[Pending] | None:
        """Hand over the publishes (and ack deletions) sent but never confirmed.

        Called by ``Connection`` when it discards this transport after a
        connection error; the next transport gets them through
        :meth:`adopt_unconfirmed` and sends them again when it connects.
        """
        if self._link is not None:
            self._close_links(flush=False)
        window = self._carry + [Pending(c, None, True) for c in self.take_ack_commands()]
        self._carry = []
        return window or None

    def adopt_unconfirmed(self, window: Any) -> None:
        """Take over another transport's unconfirmed window (sent on connect)."""
        entries = [p for p in window if isinstance(p, Pending) and p.resend]
        if not entries:
            return
        if self._link is None:
            self._carry.extend(entries)
        else:
            self._link.adopt(entries)

    def _close_links(self, flush: bool = True) -> None:
        if self._lease is not None:
            self._lease.stop()
            self._lease = None
        lease.close_client(self)
        self.poller.close()
        if self._link is not None:
            if flush and self._link.connected and self._link.pending:
                try:  # e.g. a message a cancelled BRPOP brought back, pushed back above
                    self._link.flush(raise_deferred=False)
                except self.connection_errors:
                    pass
            # Publishes/acks sent but never answered go out again on the
            # next connection of this transport (at-least-once).
            self._carry = self._link.unanswered()
            self._link.close()
            self._link = None
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                pool.disconnect()
            except Exception:  # noqa: BLE001
                pass

    def driver_version(self) -> str:
        return str(redis.__version__)

    def verify_connection(self, connection: Any) -> bool:
        """Whether the command connection is open (no I/O: called on every drain).

        A broken socket is found by the next read or write, which raises a
        connection error to the application (and drops every socket, so
        that this answers ``False`` afterwards).
        """
        link = self._link
        return link is not None and link.connected

    # -- acks, restores -------------------------------------------------------------
    def queue_acks(self, tags: list[str]) -> None:
        """Remember acked deliveries; their records are deleted in batches."""
        self._acks.extend(tags)
        if not self._delivering or len(self._acks) >= _ACK_BATCH:
            # Outside a delivery burst an ack goes out at once (pipelined);
            # inside one, acks made by the callbacks leave in one write.
            self.flush_acks()

    def take_ack_commands(self) -> list[tuple[Any, ...]]:
        """The commands deleting the pending ack records (and forget them here)."""
        acks = self._acks
        if not acks:
            return []
        self._acks = []
        keys = self.keys
        return [("HDEL", keys.unacked_key, *acks), ("ZREM", keys.unacked_index_key, *acks)]

    def flush_acks(self) -> None:
        """Send the pending record deletions (pipelined: no round trip)."""
        cmds = self.take_ack_commands()
        if cmds:
            self.link.send_many(cmds)

    def restore_entries(self, entries: list[tuple[str, str, str]], head: bool = True) -> int:
        """Give ``(tag, queue, raw)`` deliveries back to their queues, at most once each."""
        if not entries:
            return 0
        keys = self.keys
        self.flush_acks()
        order = list(reversed(entries)) if head else entries
        script_keys = [keys.unacked_key, keys.unacked_index_key]
        args: list[Any] = ["head" if head else "tail"]
        for tag, queue, raw in order:
            script_keys.append(keys.queue_key(queue, _priority_of(raw)))
            args += [tag, mark_redelivered(raw)]
        return int(self.link.evalsha(scripts.RESTORE, script_keys, args) or 0)

    def held_tags(self) -> list[str]:
        """Delivery tags this connection holds (snapshot; safe from another thread)."""
        out: list[str] = []
        for ch in tuple(cast("list[Channel]", self.channels)):
            out.extend(tuple(ch._inflight))
        return out

    def _ensure_lease(self) -> None:
        if self._lease is None:
            interval = self.lease_interval or max(min(self.visibility_timeout / 4, 60.0), 0.05)
            self._lease = lease.start_keeper(self, interval)

    def _lease_messages(self) -> list[str]:
        """What the lease keeper renews: the held delivery tags."""
        return self.held_tags()

    def _link_alive(self) -> bool:
        """Whether the command connection's socket is still open (peek, any thread)."""
        link = self._link
        conn = link.conn if link is not None else None
        return conn is not None and not self.client_path.peer_closed(conn)

    def restore_visible(self, force: bool = False) -> int:
        """Restore deliveries whose lease ran out (their consumer is gone).

        Runs at most every ``unacked_restore_interval`` seconds unless
        ``force``; under Kombu's ``unacked_mutex`` so that one process at a
        time does it. Returns how many were restored.
        """
        now = time.monotonic()
        if not force and now - self._last_restore < self.unacked_restore_interval:
            return 0
        self._last_restore = now
        from .restore import restore_expired

        return restore_expired(self)

    # -- consuming --------------------------------------------------------------------
    def _maintain(self) -> None:
        channels = cast("list[Channel]", self.channels)
        if any(ch._inflight for ch in channels):
            self._ensure_lease()
        if self.restore_visible():
            pass
        now = time.monotonic()
        if now - self._last_refresh >= self._refresh_every():
            self._last_refresh = now
            for ch in channels:
                if ch._expires and ch._active_queues:
                    ch.refresh_expiring()

    def _refresh_every(self) -> float:
        expiring = [ms for ch in cast("list[Channel]", self.channels) for ms in ch._expires.values()]
        return max(min(expiring) / 1000 / 3, 0.1) if expiring else 60.0

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message (Kombu's virtual transports do the same) or raise ``socket.timeout``.

        A connection error on any of the transport's sockets drops them all
        and is raised, so the application (``ensure_connection``,
        ``ConsumerMixin``) sees the loss and reconnects.
        """
        try:
            self._drain(timeout)
        except TimeoutError:
            raise  # nothing came: not a connection error (an OSError)
        except self.connection_errors:
            self._drop_sockets()
            raise

    def _drop_sockets(self) -> None:
        """Disconnect every socket (unanswered commands are kept for re-sending)."""
        if self._link is not None:
            self._link._drop()
        self.poller._drop_block()
        sub = self.poller.sub_conn
        if sub is not None:
            sub.disconnect()
            self.poller._patterns = set()
        self.poller.fetch_pending = 0

    def _deliver_one(self) -> bool:
        """Deliver one buffered message, if any (the fast path of a drain)."""
        delivered = 0
        self._delivering = True
        try:
            for ch in cast("list[Channel]", self.channels):
                if ch._buffer and ch._active_queues and not ch.closed:
                    # One message per call, as Kombu's virtual transports:
                    # callers count drain_events() calls (Kombu's tests do).
                    delivered = ch.deliver_buffered(1)
                    if delivered:
                        break
        finally:
            self._delivering = False
        if not delivered:
            return False
        if self._lease is None:
            self._after_delivery()
        if not any(c._buffer for c in cast("list[Channel]", self.channels)):
            self.flush_acks()  # else they leave with the next fetch (or 64 at a time)
        return True

    def _drain(self, timeout: float | None) -> None:
        now = time.monotonic()
        if now - self._last_restore >= self.unacked_restore_interval:
            self._maintain()  # also under constant load, not only when idle
        if self._deliver_one():
            return
        poller = self.poller
        deadline = None if timeout is None else now + timeout
        fetched_empty = False
        while True:
            if self._deliver_one():
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if poller.fetch_pending:
                # Answers to a fetch already sent: wait for them (bounded).
                poller.read_fetch(
                    self.brpop_timeout if remaining is None else max(min(remaining, self.brpop_timeout), 0)
                )
                if not poller.fetch_pending and not poller._fetch_got:
                    fetched_empty = True
                if poller.fetch_pending and remaining is not None and remaining <= 0:
                    raise TimeoutError()
                continue
            if poller.brpop_outstanding():
                # While a BRPOP waits, the next message goes to it first;
                # fetching now could overtake it (FIFO), so read it first.
                if poller.poll_brpop():
                    continue
            elif not fetched_empty and poller.send_fetch():
                continue
            self._maintain()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()
            wait = self.brpop_timeout if remaining is None else min(remaining, self.brpop_timeout)
            poller.wait(wait)
            if poller.subscribed_event:
                # Kombu 5 returns from drain_events when a fanout subscription
                # is confirmed, message or not; code written against it (its
                # own integration tests) drains once to get subscribed.
                poller.subscribed_event = False
                self._deliver_one()
                return
            fetched_empty = False

    def _after_delivery(self) -> None:
        if self._lease is None and any(ch._inflight for ch in cast("list[Channel]", self.channels)):
            self._ensure_lease()

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        from .eventloop import register

        register(self, loop)


class SentinelTransport(Transport):
    """Redis through Sentinel: ``sentinel://h1:26379;sentinel://h2:26379``."""

    default_port = DEFAULT_SENTINEL_PORT


def _priority_of(raw: str) -> int:
    import json

    try:
        return int(json.loads(raw)["properties"].get("priority") or 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0


def _scrub(text: str, password: str | None) -> str:
    if password:
        text = text.replace(password, "**")
    return text


#: Kombu 5.7's module-level names, for code that imports them from ``kombu.transport.redis``:
#: Sentinel connections use the same channel class here, and a PUB/SUB client that missed
#: this many health checks in a row is dropped and resubscribed (Kombu's constant).
SentinelChannel = Channel
SUBCLIENT_MAX_MISSED_HEALTH_CHECKS = 3
