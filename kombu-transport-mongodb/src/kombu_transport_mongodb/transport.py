"""The MongoDB transport (``mongodb://``, ``mongodb+srv://``) on pymongo.

Also importable as ``kombu.transport.mongodb`` (Kombu 5's module path), with
Kombu 5's names ``Transport`` and ``Channel``.

One ``MongoClient`` per connection, shared by its channels and their lease
keeper threads (pymongo is thread-safe). Layout of the collections:
:mod:`.layout`; claims, acks and leases: :mod:`.channel`; server quirks:
:mod:`.quirks`.

Waiting for messages: MongoDB offers no blocking pop, so an idle consumer
polls, backing off from ``min_polling_interval`` (5 ms) to
``polling_interval`` (0.5 s) and back to the minimum after each delivery: a
message published to an idle consumer waits at most ``polling_interval``
(plus one round trip). Delayed messages and expired claims are moved back
into their queues by any consumer of the queue every ``restore_interval``
seconds (1 s).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

import pymongo
from kombu.transport import virtual
from kombu.transport.virtual.state import BrokerState
from pymongo import monitoring
from pymongo.errors import ConnectionFailure, OperationFailure

from . import quirks
from .channel import Channel, QoS
from .layout import CLAIMED_PREFIX, DELAYED_PREFIX, Collections, claimed, delayed
from .routes import Routes
from .uri import DEFAULT_PORT, ClientConfig, client_config

__all__ = ("Transport", "Channel", "QoS", "DEFAULT_PORT", "ConnectionLost")

logger = logging.getLogger(__name__)

#: Exchanges and bindings declared in this process, per database.
_STATES: dict[tuple[str, str], BrokerState] = {}
#: Databases whose indexes this process has created.
_INDEXED: set[tuple[str, str, str]] = set()
_LOCK = threading.Lock()


class ConnectionLost(ConnectionFailure):
    """pymongo dropped its connections to the server: this kombu connection is gone.

    pymongo reconnects by itself, but a broker connection that was lost must
    end like one on every other transport: the claims of its channels are no
    longer renewed (they return to their queues after ``visibility_timeout``)
    and the next operation raises this connection error, so ``ensure`` and
    ``ConsumerMixin`` reconnect.
    """


class _PoolWatch(monitoring.ConnectionPoolListener):
    """Tells the transport when pymongo clears a connection pool (a lost connection)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = weakref.ref(transport)

    def pool_cleared(self, event: Any) -> None:
        transport = self._transport()
        if transport is not None:
            transport._on_connection_lost(event)

    def connection_closed(self, event: Any) -> None:
        # pymongo replaces a pooled socket found dead when it is checked out
        # (idle for more than a second) without raising or clearing the pool:
        # without this, a cut consumer would carry on over a new connection.
        if event.reason == monitoring.ConnectionClosedReason.ERROR:
            self.pool_cleared(event)

    def connection_check_out_failed(self, event: Any) -> None:
        if event.reason == monitoring.ConnectionCheckOutFailedReason.CONN_ERROR:
            self.pool_cleared(event)

    def pool_created(self, event: Any) -> None: ...
    def pool_ready(self, event: Any) -> None: ...
    def pool_closed(self, event: Any) -> None: ...
    def connection_created(self, event: Any) -> None: ...
    def connection_ready(self, event: Any) -> None: ...
    def connection_check_out_started(self, event: Any) -> None: ...
    def connection_checked_out(self, event: Any) -> None: ...
    def connection_checked_in(self, event: Any) -> None: ...


def _float_option(options: dict[str, Any], name: str, default: float) -> float:
    value = options.get(name)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"mongodb transport option {name!r} must be a number, not {value!r}") from None


class Transport(virtual.Transport):
    """MongoDB transport on the core's virtual engine, in Kombu 5.7's collections."""

    Channel = Channel
    default_port = DEFAULT_PORT
    driver_type = "mongodb"
    driver_name = "pymongo"
    #: Longest wait between polls of an idle consumer (seconds).
    polling_interval: float = 0.5
    min_polling_interval: float = 0.005
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    )
    connection_errors = virtual.Transport.connection_errors + (ConnectionFailure,)
    channel_errors = virtual.Transport.channel_errors + (OperationFailure,)

    #: Defaults of the transport options.
    visibility_timeout: float = 60.0
    #: Seconds between lease renewals (default: a third of ``visibility_timeout``).
    lease_interval: float = 20.0
    restore_interval: float = 1.0
    fetch_batch: int = 100
    ack_batch: int = 100
    routing_cache_ttl: float = 1.0
    calc_queue_size: bool = True

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        opts = dict(client.transport_options or {}) if client is not None else {}
        self.visibility_timeout = _float_option(opts, "visibility_timeout", self.visibility_timeout)
        if self.visibility_timeout <= 0:
            raise ValueError("mongodb transport option 'visibility_timeout' must be positive")
        self.lease_interval = _float_option(opts, "lease_interval", self.visibility_timeout / 3)
        self.restore_interval = _float_option(
            opts, "restore_interval", min(self.restore_interval, self.visibility_timeout / 2)
        )
        self.min_polling_interval = _float_option(opts, "min_polling_interval", self.min_polling_interval)
        self.fetch_batch = max(1, int(_float_option(opts, "fetch_batch", self.fetch_batch)))
        self.ack_batch = max(1, int(_float_option(opts, "ack_batch", self.ack_batch)))
        self.routing_cache_ttl = _float_option(opts, "routing_cache_ttl", self.routing_cache_ttl)
        calc = opts.get("calc_queue_size", self.calc_queue_size)
        self.calc_queue_size = calc if isinstance(calc, bool) else str(calc).lower() not in ("0", "false", "no")
        self.names = Collections.from_options(opts)
        self.config: ClientConfig = client_config(client, opts)
        with _LOCK:
            self.state = _STATES.setdefault(self.config.key, BrokerState())
        self.routes = Routes(lambda: self.collection("routing"), self.routing_cache_ttl)
        self._client: Any = None
        self._db: Any = None
        self._collections: dict[str, Any] = {}
        #: queue -> x-max-priority (None: declared without priorities).
        self._max_priorities: dict[str, int | None] = {}
        #: queue -> x-expires in seconds, for queues declared with ``expires``.
        self._expires: dict[str, float] = {}
        self._swept = 0.0
        self._maintained: dict[str, float] = {}
        self._backoff = self.min_polling_interval
        self._loop: Any = None
        self._loop_entry: Any = None
        self._lost: str | None = None

    # -- connection ---------------------------------------------------------------------
    def establish_connection(self) -> Transport:
        if self._lost is not None:
            self._drop_client()
        if self._client is None:
            client = pymongo.MongoClient(self.config.uri, event_listeners=[_PoolWatch(self)], **self.config.kwargs)
            try:
                client.admin.command("ping")
                self._db = client[self.config.database]
                if not quirks.supports_dotted_names(self._db, self.config.key, "kombu.probe"):
                    self.names = self.names.undotted()
                self._ensure_indexes()
            except BaseException:
                client.close()
                self._db = None
                raise
            self._client = client
            self._collections.clear()
        return self

    def close_connection(self, connection: Any) -> None:
        self._stop_loop()
        super().close_connection(connection)
        self._drop_client()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._db = None
        self._collections.clear()
        self._lost = None
        if client is not None:
            client.close()

    def _on_connection_lost(self, event: Any) -> None:
        """pymongo lost a connection (any thread): the claims made so far are given up.

        Every channel takes a new claim token, so that nothing renews the old
        claims again, not even after the application reconnects this transport
        (its consumers then claim anew); the old claims return after
        ``visibility_timeout`` unless acked first.
        """
        if self._client is not None and self._lost is None:
            self._lost = f"lost the connection to {self.config.display}"
            for channel in list(self.channels):
                abandon = getattr(channel, "abandon_claims", None)
                if abandon is not None:
                    abandon()
            logger.warning("mongodb: %s; unacknowledged messages return after visibility_timeout", self._lost)

    @property
    def lost(self) -> bool:
        """Whether the connection was lost (the channels' claims are no longer renewed)."""
        return self._lost is not None

    def collection(self, name: str) -> Any:
        """The pymongo collection for ``messages``, ``routing`` or ``queues``."""
        if self._lost is not None:
            raise ConnectionLost(self._lost)
        try:
            return self._collections[name]
        except KeyError:
            pass
        if self._db is None:
            self.establish_connection()
        coll = self._collections[name] = self._db[getattr(self.names, name)]
        return coll

    def _ensure_indexes(self) -> None:
        key = (*self.config.key, self.names.messages)
        with _LOCK:
            if key in _INDEXED:
                return
        db = self._db
        messages = db[self.names.messages]
        if quirks.supports_id_in_compound_index(db, self.config.key, self.names.messages + "_probe"):
            messages.create_index([("queue", 1), ("priority", 1), ("_id", 1)])
        else:
            messages.create_index([("queue", 1), ("priority", 1)])
        messages.create_index([("claim", 1)])
        routing = db[self.names.routing]
        routing.create_index([("queue", 1), ("exchange", 1)])
        routing.create_index([("exchange", 1)])
        with _LOCK:
            _INDEXED.add(key)

    def driver_version(self) -> str:
        return str(pymongo.version)

    def verify_connection(self, connection: Any) -> bool:
        """Whether the connection is open and was not lost (no I/O)."""
        return self._client is not None and self._lost is None

    # -- queue metadata --------------------------------------------------------------------
    def remember_queue(self, queue: str, arguments: dict[str, Any]) -> None:
        value = arguments.get("x-max-priority")
        self._max_priorities[queue] = int(value) if value is not None else None
        expires = arguments.get("x-expires")
        if expires is not None:
            self._expires[queue] = float(expires) / 1000.0
        else:
            self._expires.pop(queue, None)

    def forget_queue(self, queue: str) -> None:
        self._max_priorities.pop(queue, None)
        self._expires.pop(queue, None)
        self._maintained.pop(queue, None)

    # -- queue expiry (x-expires) -----------------------------------------------------------
    def _touch(self, queue: str) -> None:
        """``queue`` is in use: push its expiry back (with slack for the next touch)."""
        seconds = self._expires.get(queue)
        if seconds is None and queue not in self._max_priorities:
            self.max_priority_of(queue)  # loads the stored arguments once
            seconds = self._expires.get(queue)
        if seconds is not None:
            self.collection("queues").update_one(
                {"_id": queue, "expire_at": {"$exists": True}},
                {"$set": {"expire_at": time.time() + seconds + 2 * self.restore_interval}},
            )

    def expire_queue_if_due(self, queue: str, channel: Any) -> bool:
        """Delete ``queue`` if it is past its ``x-expires``; whether it was (by anyone)."""
        queues = self.collection("queues")
        now = time.time()
        if queues.delete_one({"_id": queue, "expire_at": {"$lt": now}}).deleted_count:
            logger.info("mongodb: queue %r expired (unused for its x-expires)", queue)
            channel.queue_delete(queue)
            return True
        return False

    def sweep_expired_queues(self) -> int:
        """Delete every queue past its ``x-expires`` (each by exactly one process); how many."""
        if not self.channels:
            return 0
        channel = self.channels[0]
        docs = self.collection("queues").find({"expire_at": {"$lt": time.time()}}, {"_id": 1})
        return sum(1 for doc in list(docs) if self.expire_queue_if_due(doc["_id"], channel))

    def max_priority_of(self, queue: str) -> int | None:
        """The queue's ``x-max-priority``; 255 for a queue this process knows nothing of.

        A queue declared without priorities ignores them (AMQP); one never
        declared (e.g. by Kombu 5.7, which stores no options) honours them.
        """
        try:
            return self._max_priorities[queue]
        except KeyError:
            pass
        doc = self.collection("queues").find_one({"_id": queue}, {"options": 1})
        if doc is None:
            self._max_priorities[queue] = 255
            return 255
        arguments = (doc.get("options") or {}).get("arguments") or {}
        self.remember_queue(queue, arguments)
        return self._max_priorities[queue]

    # -- housekeeping ------------------------------------------------------------------------
    def maintain_if_due(self, queue: str) -> None:
        """Every ``restore_interval``: expired claims and due delayed messages back into ``queue``.

        Also marks ``queue`` as used (``x-expires``) and deletes expired queues.
        """
        now = time.monotonic()
        if now - self._maintained.get(queue, 0.0) < self.restore_interval:
            return
        self._maintained[queue] = now
        self._touch(queue)
        self.maintain(queue)
        self.sweep_if_due()

    def sweep_if_due(self) -> None:
        """Every ``restore_interval``: expired queues, and expired claims and due delayed
        messages of *every* queue (also those no consumer of this process reads, e.g.
        queues only Kombu 5.7 consumers read now)."""
        now = time.monotonic()
        if now - self._swept >= self.restore_interval:
            self._swept = now
            self.sweep_expired_queues()
            for queue in self._queues_needing_maintenance():
                self.maintain(queue)

    def _queues_needing_maintenance(self, limit: int = 1000) -> set[str]:
        messages = self.collection("messages")
        now = time.time()
        queues: set[str] = set()
        for prefix, field, due in (
            (CLAIMED_PREFIX, "lease", {"$lt": now}),
            (DELAYED_PREFIX, "not_before", {"$lte": now}),
        ):
            # A range on the prefix (index-friendly): ':' + 1 is ';'.
            found = messages.find(
                {"queue": {"$gte": prefix, "$lt": prefix[:-1] + ";"}, field: due}, {"queue": 1}, limit=limit
            )
            queues.update(doc["queue"][len(prefix) :] for doc in found)
        return queues

    def maintain(self, queue: str) -> tuple[int, int]:
        """Restore ``queue``'s expired claims and due delayed messages; return both counts.

        Each document matches once only (the filters require it to be still
        claimed and expired, or still delayed and due), so concurrent
        consumers restore each message exactly once.
        """
        messages = self.collection("messages")
        now = time.time()
        restored = messages.update_many(
            {"queue": claimed(queue), "lease": {"$lt": now}},
            {"$set": {"queue": queue, "redelivered": True}, "$unset": {"claim": "", "lease": "", "batch": ""}},
        ).modified_count
        if restored:
            logger.info("mongodb: %d message(s) of queue %r returned after their lease ran out", restored, queue)
        due = messages.update_many(
            {"queue": delayed(queue), "not_before": {"$lte": now}},
            {"$set": {"queue": queue}, "$unset": {"not_before": ""}},
        ).modified_count
        return int(restored), int(due)

    def flush_acks(self) -> None:
        for channel in list(self.channels):
            flush = getattr(channel, "_flush_acks", None)
            if flush is not None:
                flush()

    # -- waiting ---------------------------------------------------------------------------
    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        super().drain_events(connection, timeout=timeout, **kwargs)
        self._backoff = self.min_polling_interval

    def _wait_for_messages(self, token: Any, timeout: float | None) -> None:
        self.flush_acks()
        self.sweep_if_due()
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self.polling_interval or self.min_polling_interval)
        time.sleep(delay if timeout is None else max(0.0, min(delay, timeout)))

    def deliver_ready(self, limit: int = 1000) -> int:
        """Deliver up to ``limit`` messages that can be delivered now; return how many."""
        delivered = 0
        progress = True
        while progress and delivered < limit:
            progress = False
            for channel in list(self._consuming):
                if channel.deliver_one():
                    delivered += 1
                    progress = True
        return delivered

    # -- event loop (kombu.asynchronous.Hub) ---------------------------------------------
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver from ``loop``'s timers: polled with the same backoff as ``drain_events``."""
        self._stop_loop()
        self._loop = loop
        self._loop_entry = loop.call_soon(self._on_loop_tick)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        self._stop_loop()

    def _stop_loop(self) -> None:
        entry, self._loop_entry = self._loop_entry, None
        self._loop = None
        if entry is not None:
            entry.cancel()

    def _on_loop_tick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        delay = self.polling_interval
        try:
            if self.deliver_ready(limit=100):
                self._backoff = self.min_polling_interval
                delay = 0.0
            else:
                self.flush_acks()
                delay = self._backoff
                self._backoff = min(self._backoff * 2, self.polling_interval)
        finally:
            if self._loop is loop:
                self._loop_entry = loop.call_later(delay, self._on_loop_tick)
