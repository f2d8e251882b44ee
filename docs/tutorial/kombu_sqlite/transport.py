"""The ``sqlite://`` transport: the virtual engine's storage primitives on sqlite3.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` name the
database file (created on first use). Each ``Connection`` opens the file once;
every channel of that connection shares the handle behind a lock.

A fetched message stays in its row under a lease (``lease_until``) until the
application acks it (the row is deleted) or gives it back (the lease is
cleared); a consumer that dies without either loses nothing: its leases run
out after ``visibility_timeout`` seconds and the messages are delivered again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from queue import Empty
from typing import Any

from kombu.transport import virtual
from kombu.transport.virtual.lease import LeaseKeeper

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    max_priority INTEGER
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    payload TEXT NOT NULL,
    lease_until REAL,  -- NULL: ready; otherwise held by a consumer until then
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_next ON messages (queue, priority DESC, id);
"""


class Database:
    """One sqlite3 handle, safe to share between the threads of a connection."""

    def __init__(self, path: str, timeout: float) -> None:
        self.lock = threading.Lock()
        # isolation_level=None: autocommit; transactions are written out below.
        self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        with self.lock:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, args)

    def lease(self, queue: str, seconds: float) -> tuple[int, str, int] | None:
        """Lease the next ready message of ``queue`` (highest priority, then oldest).

        Returns ``(row id, payload, earlier deliveries)``, or ``None``. A
        message whose lease ran out is ready again.
        """
        now = time.time()
        with self.lock:
            # BEGIN IMMEDIATE takes the write lock first: two processes never
            # lease the same row.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute(
                    "SELECT id, payload, deliveries FROM messages"
                    " WHERE queue = ? AND (lease_until IS NULL OR lease_until < ?)"
                    " ORDER BY priority DESC, id LIMIT 1",
                    (queue, now),
                ).fetchone()
                if row is not None:
                    self.conn.execute(
                        "UPDATE messages SET lease_until = ?, deliveries = deliveries + 1 WHERE id = ?",
                        (now + seconds, row[0]),
                    )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return None if row is None else (int(row[0]), str(row[1]), int(row[2]))

    def update_rows(self, sql: str, ids: Sequence[int], *args: Any) -> None:
        """Run ``sql`` (ending in ``WHERE id IN``) for the rows ``ids``."""
        if ids:
            self.execute(f"{sql} ({', '.join('?' * len(ids))})", *args, *ids)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


#: ``lease_until`` of a row that is not held, or whose lease ran out.
READY = "(lease_until IS NULL OR lease_until < ?)"


class Channel(virtual.Channel):
    """A channel whose queues are rows of the connection's database."""

    #: Seconds a fetched message stays leased without a renewal (a transport option).
    visibility_timeout = 30.0
    from_transport_options = (*virtual.Channel.from_transport_options, "visibility_timeout")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: delivery tag -> row id of every message this channel holds a lease on.
        self._held: dict[str, int] = {}
        self._keeper: LeaseKeeper | None = None

    @property
    def db(self) -> Database:
        return self.connection.db  # type: ignore[attr-defined, no-any-return]

    # -- the storage primitives ----------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = kwargs.get("arguments") or {}
        self.db.execute(
            "INSERT OR IGNORE INTO queues (name, max_priority) VALUES (?, ?)",
            queue,
            arguments.get("x-max-priority"),
        )

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self.db.execute("SELECT 1 FROM queues WHERE name = ?", queue).fetchone() is not None

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self.db.execute(
            "INSERT INTO messages (queue, priority, payload) VALUES (?, ?, ?)",
            queue,
            self._priority(queue, message),
            json.dumps(message),
        )

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        leased = self.db.lease(queue, float(self.visibility_timeout))
        if leased is None:
            raise Empty()
        row_id, text, deliveries = leased
        payload: dict[str, Any] = json.loads(text)
        if deliveries:
            payload["redelivered"] = True
        self._held[payload["properties"]["delivery_tag"]] = row_id
        if self._keeper is None:
            self._keeper = LeaseKeeper(self, float(self.visibility_timeout) / 3).start()
        return payload

    def _size(self, queue: str) -> int:
        sql = f"SELECT COUNT(*) FROM messages WHERE queue = ? AND {READY}"
        return int(self.db.execute(sql, queue, time.time()).fetchone()[0])

    def _purge(self, queue: str) -> int:
        return self.db.execute(f"DELETE FROM messages WHERE queue = ? AND {READY}", queue, time.time()).rowcount

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.db.execute("DELETE FROM messages WHERE queue = ?", queue)
        self.db.execute("DELETE FROM queues WHERE name = ?", queue)

    # -- the storage hooks: what becomes of a leased message ----------------------------

    def _rows(self, messages: Sequence[virtual.Message]) -> list[int]:
        """The rows of ``messages`` this channel holds, forgotten here."""
        rows = (self._held.pop(m.delivery_tag, None) for m in messages)
        return [row for row in rows if row is not None]

    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        # Acked, or rejected (dead-lettered already, if the queue says so): gone for good.
        self.db.update_rows("DELETE FROM messages WHERE id IN", self._rows(messages))

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        # Requeued, or given back at close: ready again, at its old place.
        self.db.update_rows("UPDATE messages SET lease_until = NULL WHERE id IN", self._rows(messages))

    def _renew_leases(self, messages: Sequence[virtual.Message]) -> None:
        # Called by the LeaseKeeper thread while the messages are unacknowledged.
        held = (self._held.get(m.delivery_tag) for m in messages)  # acks may run meanwhile
        rows = [row for row in held if row is not None]
        until = time.time() + float(self.visibility_timeout)
        self.db.update_rows("UPDATE messages SET lease_until = ? WHERE id IN", rows, until)

    def close(self) -> None:
        super().close()
        if self._keeper is not None:
            self._keeper.stop()

    # -- priorities ---------------------------------------------------------------------

    def _priority(self, queue: str, message: dict[str, Any]) -> int:
        """The message's priority, clamped to its queue's ``x-max-priority`` (0 without one)."""
        row = self.db.execute("SELECT max_priority FROM queues WHERE name = ?", queue).fetchone()
        if row is None or row[0] is None:
            return 0  # a queue without max_priority is plain FIFO, as on RabbitMQ
        try:
            priority = int(message["properties"].get("priority") or 0)
        except (TypeError, ValueError):
            priority = 0
        return max(0, min(priority, int(row[0])))


class Transport(virtual.Transport):
    """The ``sqlite://`` transport."""

    Channel = Channel
    #: Exchanges and bindings live in this process (persistent_declarations=False).
    state = virtual.BrokerState()
    polling_interval = 0.05
    driver_type = driver_name = "sqlite"
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        path = client.virtual_host if client is not None else None
        if not path or path == "/":
            raise ValueError("sqlite:// needs a database file: sqlite:///relative.db or sqlite:////absolute.db")
        timeout = float(client.transport_options.get("busy_timeout", 10.0))
        self.db = Database(path, timeout)

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        self.db.close()

    def driver_version(self) -> str:
        return sqlite3.sqlite_version
