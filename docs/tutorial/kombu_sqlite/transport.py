"""The ``sqlite://`` transport: the virtual engine's storage primitives on sqlite3.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` name the
database file (created on first use). Each ``Connection`` opens the file once;
every channel of that connection shares the handle behind a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from queue import Empty
from typing import Any

from kombu.transport import virtual

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    max_priority INTEGER
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    payload TEXT NOT NULL
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

    def pop(self, queue: str) -> str | None:
        """Remove and return the next payload of ``queue`` (highest priority, then oldest)."""
        with self.lock:
            # BEGIN IMMEDIATE takes the write lock first: two processes never
            # select the same row.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                row = self.conn.execute(
                    "SELECT id, payload FROM messages WHERE queue = ? ORDER BY priority DESC, id LIMIT 1",
                    (queue,),
                ).fetchone()
                if row is not None:
                    self.conn.execute("DELETE FROM messages WHERE id = ?", (row[0],))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return None if row is None else str(row[1])

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class Channel(virtual.Channel):
    """A channel whose queues are rows of the connection's database."""

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
        payload = self.db.pop(queue)
        if payload is None:
            raise Empty()
        return json.loads(payload)  # type: ignore[no-any-return]

    def _size(self, queue: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM messages WHERE queue = ?", queue).fetchone()[0])

    def _purge(self, queue: str) -> int:
        return self.db.execute("DELETE FROM messages WHERE queue = ?", queue).rowcount

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.db.execute("DELETE FROM messages WHERE queue = ?", queue)
        self.db.execute("DELETE FROM queues WHERE name = ?", queue)

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
