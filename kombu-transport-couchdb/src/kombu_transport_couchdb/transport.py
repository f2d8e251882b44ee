"""The CouchDB transport (``couchdb://``, ``couchdbs://``) on the core's virtual engine.

Also importable as ``kombu.transport.couchdb``. One pooled HTTP session per
connection for publishing, claiming and settling; one persistent connection
per consuming channel for its lease keeper; one continuous ``_changes`` feed
per connection (:mod:`.watch`) that wakes idle consumers and keeps the binding
cache current. Leases running out elsewhere are seen at the latest
``polling_interval`` seconds later. See the README for the options.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import requests
from kombu.transport import virtual
from kombu.transport.virtual.base import BrokerState

from . import documents as docs
from . import quirks
from .channel import Channel, QoS
from .client import CouchClient, CouchDBConnectionError, CouchDBError
from .conninfo import DEFAULT_PORT, ConnInfo, _as_bool, conninfo_from_client
from .watch import BindingCache, FeedWatcher

__all__ = ("Transport", "Channel", "QoS", "CouchDBConnectionError", "CouchDBError", "DEFAULT_PORT")

#: Exchanges and bindings known in this process, per server and database.
_STATES: dict[tuple[str, str], BrokerState] = {}
_STATES_LOCK = threading.Lock()
#: Most messages one event-loop tick delivers (:meth:`Transport.deliver_ready`).
HUB_BURST = 100


class Transport(virtual.Transport):
    """CouchDB transport: one document per message, claimed with MVCC revisions."""

    Channel = Channel
    default_port = DEFAULT_PORT
    driver_type = "couchdb"
    driver_name = "couchdb"
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    )
    connection_errors = virtual.Transport.connection_errors + (CouchDBConnectionError,)
    channel_errors = virtual.Transport.channel_errors + (CouchDBError,)

    #: Seconds a claimed message stays invisible to others; renewed while held.
    visibility_timeout: float = 60.0
    #: Seconds between lease renewals (default: a third of the visibility timeout).
    lease_interval: float | None = None
    #: Longest wait on the changes feed before claiming again.
    polling_interval: float = 1.0
    #: Seconds between looks for leases that ran out and delayed messages come due.
    restore_interval: float = 1.0
    #: Most messages claimed in one round trip (also bounded by the prefetch room).
    claim_batch: int = 20
    #: Acks made during one delivery burst are deleted together, at most this many.
    ack_batch: int = 100

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        opts = dict(client.transport_options or {}) if client is not None else {}
        self.options = opts
        self.conninfo: ConnInfo = conninfo_from_client(client, opts)
        for name in ("visibility_timeout", "lease_interval", "polling_interval", "restore_interval"):
            if opts.get(name) is not None:
                setattr(self, name, float(opts[name]))
        for name in ("claim_batch", "ack_batch"):
            if opts.get(name) is not None:
                setattr(self, name, max(1, int(opts[name])))
        self._api: CouchClient | None = None
        self._pouchdb: bool | None = None
        self._lost: str | None = None
        self.delivering = False
        self.sequence = _SEQUENCE
        self.declared_queues: set[str] = set()
        self.persisted_exchanges: set[str] = set()
        #: (exchange, routing_key, pattern, queue) stored by this connection.
        self.persisted_bindings: set[tuple[str, str, Any, str]] = set()
        #: queue -> policy arguments stored by this connection.
        self.stored_arguments: dict[str, dict[str, Any]] = {}
        self._state_key = (self.conninfo.server_url, self.conninfo.database)
        self._hub: Any = None
        self._loop_timer: Any = None
        self.bindings = BindingCache(float(opts.get("binding_cache_max_age", 10.0)))
        self._watcher: FeedWatcher | None = None
        self.binding_cache = _as_bool(opts.get("binding_cache", True))
        self._room_freed = False
        self._last_poll = 0.0
        self._next_channel = 0

    # -- state and client ------------------------------------------------------------------
    @property
    def state(self) -> BrokerState:  # type: ignore[override]
        with _STATES_LOCK:
            state = _STATES.get(self._state_key)
            if state is None:
                state = _STATES[self._state_key] = BrokerState()
            return state

    @property
    def client_api(self) -> CouchClient:
        """The connection's HTTP client (created on first use)."""
        if self._api is None:
            self._api = CouchClient(self.conninfo)
        return self._api

    def establish_connection(self) -> Transport:
        """Check the server, create the database, its claim index and feed filter."""
        api = self.client_api
        self._lost = None
        info = api.server_info()
        self._pouchdb = quirks.is_pouchdb(info)
        api.ensure_db()
        api.put(docs.DESIGN_DOC, ok=(201, 202, 409))
        return self

    def close_connection(self, connection: Any) -> None:
        try:
            super().close_connection(connection)
        except self.connection_errors:
            pass
        finally:
            from .eventloop import unregister

            unregister(self, None)
            watcher, self._watcher = self._watcher, None
            if watcher is not None:
                watcher.stop()
            if self._api is not None:
                self._api.close()
                self._api = None

    def driver_version(self) -> str:
        return str(getattr(requests, "__version__", "?"))

    def verify_connection(self, connection: Any) -> bool:
        return self._api is not None and self._lost is None

    def _raise_if_lost(self) -> None:
        """Raise a connection error if a lease connection was found cut (then forget it)."""
        if self._lost is None:
            for channel in tuple(cast("list[Channel]", self._consuming)):
                if not channel.link_alive():
                    self.lease_lost(channel)
                    break
        if self._lost is not None:
            lost, self._lost = self._lost, None
            raise CouchDBConnectionError(lost)

    @property
    def watcher(self) -> FeedWatcher:
        """The connection's changes-feed watcher (started on first use)."""
        watcher = self._watcher
        if watcher is None or not watcher.running:
            watcher = self._watcher = FeedWatcher(self)
            watcher.interest = frozenset(self.consumed_queues())
            watcher.start()
        return watcher

    def bindings_ready(self) -> bool:
        """Whether cached binding tables may be used (the changes feed is followed)."""
        return self.binding_cache and self.watcher.ready

    def _on_consumer_change(self, channel: Any) -> None:
        super()._on_consumer_change(channel)
        if self._watcher is not None:
            self._watcher.interest = frozenset(self.consumed_queues())

    def lease_lost(self, channel: virtual.Channel) -> None:
        """A channel's lease connection was reset: report it on the next call."""
        self._lost = f"the connection to {self.conninfo.describe()} was reset"

    # -- consuming ---------------------------------------------------------------------------
    def consumed_queues(self) -> list[str]:
        """The queues consumed on this connection (snapshot; safe from another thread)."""
        return sorted({q for ch in tuple(cast("list[Channel]", self._consuming)) for q in tuple(ch._active_queues)})

    def room_freed(self) -> None:
        """A delivery was settled: the prefetch window may have room again."""
        self._room_freed = True

    def flush_acks(self) -> None:
        for channel in tuple(cast("list[Channel]", self.channels)):
            if channel._pending_acks:
                channel.flush_acks()

    def _deliver_one(self) -> bool:
        """Deliver one message (buffered or newly claimed), round robin over the consuming channels.

        Acks made by the callback are kept for a batch (see :meth:`Channel._settle`).
        """
        channels = tuple(cast("list[Channel]", self._consuming))
        n = len(channels)
        self.delivering = True
        try:
            for i in range(n):
                if channels[(self._next_channel + i) % n].deliver_one():
                    self._next_channel = (self._next_channel + i + 1) % n
                    return True
        finally:
            self.delivering = False
        return False

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message or raise ``socket.timeout``, as Kombu's virtual transports do.

        Claimed messages beyond the first wait in their channel for the next
        call. Acks are deleted in batches: at ``ack_batch``, before the next
        claim, before waiting, at close, or at once when made outside
        ``drain_events``. Between empty rounds it waits for the changes feed
        to report a new message of a consumed queue, at most
        ``polling_interval`` seconds (a lease running out elsewhere writes
        nothing to the feed).
        """
        self._raise_if_lost()
        watcher = self.watcher
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            token = watcher.version
            if self._deliver_one():
                return
            self.flush_acks()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()  # socket.timeout
            wait = self.polling_interval if watcher.following_messages else min(self.polling_interval, 0.1)
            watcher.wait(token, wait if remaining is None else min(remaining, wait))

    # -- event loop (kombu.asynchronous.Hub) -------------------------------------------------
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver from ``loop``, woken by the changes feed (see :mod:`.eventloop`)."""
        from .eventloop import register

        register(self, loop)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        from .eventloop import unregister

        unregister(self, loop)

    def deliver_ready(self, force: bool = False) -> int:
        """Deliver what can be delivered now; without ``force`` only when something is due.

        Due: an ack freed prefetch room, or ``polling_interval`` passed since
        the last look (leases running out and delayed messages write nothing
        to the changes feed). Returns how many messages were delivered.
        """
        now = time.monotonic()
        if not (force or self._room_freed or now - self._last_poll >= self.polling_interval):
            return 0
        self._raise_if_lost()
        self._room_freed = False
        self._last_poll = now
        delivered = 0
        try:
            while delivered < HUB_BURST and self._deliver_one():
                delivered += 1
        finally:
            self.flush_acks()
        return delivered


_SEQUENCE = docs.Sequence()
