"""Following the database's ``_changes`` feed from a daemon thread.

:class:`ChangesWatcher` long-polls the feed with its own HTTP session and
calls ``on_change()`` whenever a document it watches changes; it holds only a
weak reference to its transport and ends when the transport is gone or
:meth:`ChangesWatcher.stop` is called. Two feeds are watched:

``messages``
    message documents of the queues the transport consumes: wakes a
    ``kombu.asynchronous.Hub`` (:mod:`.eventloop`).
``bindings``
    binding and exchange documents: invalidates the transport's
    :class:`BindingCache`, so a publisher routes with the bindings every
    process declared without reading them on each publish.

``ready`` is true while the watcher follows the feed from a known point; after
an error it is false until the feed is followed again, and ``on_change()`` is
called (whatever changed meanwhile was missed).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .client import CouchClient, CouchDBConnectionError, CouchDBError

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("ChangesWatcher", "BindingCache", "IDLE_WAIT")

logger = logging.getLogger(__name__)

#: Seconds a messages watcher waits before looking again when nothing is consumed.
IDLE_WAIT = 0.05


class ChangesWatcher:
    """A daemon thread calling ``on_change()`` when watched documents change."""

    def __init__(self, transport: Transport, feed: str, on_change: Callable[[], None]) -> None:
        if feed not in ("messages", "bindings"):
            raise ValueError(f"unknown feed {feed!r}")
        self.feed = feed
        self.ready = False
        self._transport = weakref.ref(transport)
        self._info = transport.conninfo
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"kombu-couchdb-{feed}", daemon=True)

    def start(self) -> ChangesWatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 0.0) -> None:
        """Ask the thread to end; it does after its current wait (at most ``polling_interval``).

        With ``timeout`` wait that long for it.
        """
        self._stop.set()
        self.ready = False
        if timeout and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        client = CouchClient(self._info, pool_size=1)
        since: Any = None
        try:
            while not self._stop.is_set():
                transport = self._transport()
                if transport is None:
                    return
                queues = transport.consumed_queues() if self.feed == "messages" else None
                pouchdb, wait = bool(transport._pouchdb), transport.polling_interval
                del transport
                if queues == []:
                    self._stop.wait(IDLE_WAIT)
                    continue
                try:
                    if since is None:
                        since = client.db_info().get("update_seq")
                        self.ready = True
                        self._on_change()
                    latest = client.changes_longpoll(since, wait, queues, pouchdb=pouchdb)
                except (CouchDBConnectionError, CouchDBError) as exc:
                    logger.debug("couchdb: %s feed failed (%r); following it again", self.feed, exc)
                    self.ready = False
                    since = None
                    self._on_change()
                    self._stop.wait(wait)
                    continue
                if latest != since:
                    since = latest
                    self._on_change()
        finally:
            self.ready = False
            client.close()


class BindingCache:
    """Binding tables read once and kept until a binding or exchange document changes.

    Valid only while the transport's ``bindings`` watcher is ``ready``;
    otherwise every lookup reads the database. A binding made by another
    process reaches this cache's publishers as fast as the changes feed
    reports it (milliseconds); one made on this connection at once.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._tables: dict[str, tuple[int, list[tuple[str, Any, str]]]] = {}

    def invalidate(self) -> None:
        self.generation += 1

    def get(self, exchange: str, ready: bool, fetch: Callable[[], list[tuple[str, Any, str]]]
            ) -> list[tuple[str, Any, str]]:
        if not ready:
            return fetch()
        generation = self.generation
        hit = self._tables.get(exchange)
        if hit is not None and hit[0] == generation:
            return hit[1]
        table = fetch()
        self._tables[exchange] = (generation, table)
        return table
