"""Following the database's ``_changes`` feed: wake-ups and binding invalidation.

One :class:`FeedWatcher` per connection, started on first need: a daemon
thread holding one *continuous* ``_changes`` feed (with heartbeats) on its own
HTTP session, and only a weak reference to the transport. Each change line
carries a document id (see :mod:`.documents`):

* a message of a queue this connection consumes (``kombu.m:<queue>:...``,
  not a deletion): the watcher's ``version`` goes up, which wakes
  ``drain_events`` waiting in :meth:`FeedWatcher.wait` and pokes the
  registered wakers (the ``kombu.asynchronous.Hub`` pipe);
* a binding or exchange document, or the topology epoch document rewritten
  after each of their changes: the :class:`BindingCache` is invalidated.

While the connection consumes nothing (a publisher) the feed is filtered to
the epoch document alone (CouchDB's built-in ``_doc_ids`` filter), so message
writes cost the server nothing on this listener and the client reads no line
for them; it is followed unfiltered from the heartbeat after the first
consumer appears. An unfiltered feed is not filtered on the server at all:
ids are enough, and one long-lived feed per connection leaves nothing behind
on the server (a longpoll abandoned by its client read timeout lingers on
pouchdb-server, see :mod:`.quirks`). ``ready`` is true while the feed is
followed from a known point; after an error it is false (waiters fall back
to polling, the binding cache to reads) until the feed is followed again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import documents as docs
from .client import CouchClient, CouchDBConnectionError, CouchDBError

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("FeedWatcher", "BindingCache", "HEARTBEAT")

logger = logging.getLogger(__name__)

#: Seconds between the server's heartbeats on the unfiltered feed.
HEARTBEAT = 5.0
#: Seconds between heartbeats on a publisher's filtered feed: the longest a new
#: consumer on the connection waits (polling meanwhile) for the unfiltered feed.
FILTERED_HEARTBEAT = 0.5


class FeedWatcher:
    """A daemon thread following the changes feed for one connection."""

    def __init__(self, transport: Transport) -> None:
        self._transport = weakref.ref(transport)
        self._info = transport.conninfo
        self._invalidate = transport.bindings.invalidate
        self.ready = False
        #: Whether the feed followed is the publisher's (epoch document only).
        self.filtered = False
        #: Change lines read from the feed (heartbeats not counted).
        self.changes_seen = 0
        self.version = 0
        #: Queues whose message changes wake this connection (replaced, never mutated).
        self.interest: frozenset[str] = frozenset()
        self.wakers: set[Callable[[], None]] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name="kombu-couchdb-feed", daemon=True)

    def start(self) -> FeedWatcher:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    @property
    def following_messages(self) -> bool:
        """Whether new messages of the consumed queues wake waiters (else: poll)."""
        return self.ready and not self.filtered

    def stop(self) -> None:
        """Ask the thread to end (it does at its next heartbeat); never blocks."""
        self._stop.set()
        self.ready = False
        self._bump()

    def wait(self, token: int, timeout: float) -> None:
        """Block until ``version`` differs from ``token`` (or ``timeout`` seconds)."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != token, timeout)

    def _bump(self) -> None:
        with self._cond:
            self.version += 1
            self._cond.notify_all()
        for poke in tuple(self.wakers):
            poke()

    def _on_line(self, line: bytes) -> None:
        try:
            change = json.loads(line)
            doc_id = change["id"]
        except (ValueError, KeyError, TypeError):
            return  # a heartbeat, the closing last_seq, or noise
        self.changes_seen += 1
        queue = docs.queue_of_message_id(doc_id)
        if queue is not None:
            if not change.get("deleted") and queue in self.interest:
                self._bump()
        elif doc_id.startswith(docs.TOPOLOGY_PREFIXES):
            self._invalidate()

    def _run(self) -> None:
        client = CouchClient(self._info, pool_size=1)
        try:
            while not self._stop.is_set():
                if self._transport() is None:
                    return
                refollow = False
                try:
                    since = client.db_info().get("update_seq")
                    self.filtered = filtered = not self.interest
                    doc_ids, heartbeat = (
                        ([docs.TOPOLOGY_EPOCH_ID], FILTERED_HEARTBEAT) if filtered else (None, HEARTBEAT)
                    )
                    # Ready from here: every change after ``since`` will be on the feed, and
                    # tables cached before are dropped. Not after the reply's headers: the
                    # server sends them with the first line, a heartbeat away on a quiet feed.
                    self.ready = True
                    self._invalidate()
                    self._bump()
                    with client.changes_stream(since, heartbeat, doc_ids, silence=3 * HEARTBEAT) as reply:
                        for line in reply.iter_lines(chunk_size=4096):
                            if self._stop.is_set() or self._transport() is None:
                                return
                            if line:
                                self._on_line(line)
                            if filtered and self.interest:
                                refollow = True  # a consumer appeared: follow its messages
                                break
                except (CouchDBConnectionError, CouchDBError, OSError, ValueError) as exc:
                    logger.debug("couchdb: changes feed interrupted (%r); following it again", exc)
                except Exception as exc:  # noqa: BLE001 - e.g. requests' errors while streaming
                    logger.debug("couchdb: changes feed interrupted (%r); following it again", exc)
                self.ready = False
                self._invalidate()
                self._bump()
                if not refollow:
                    self._stop.wait(1.0)
        finally:
            self.ready = False
            client.close()


class BindingCache:
    """Binding tables read once and kept until a binding or exchange document changes.

    Valid only while the connection's :class:`FeedWatcher` is ``ready``;
    otherwise every lookup reads the database. A binding made by another
    process reaches this cache as fast as the changes feed reports it
    (milliseconds); one made on this connection at once. A table is read
    again after ``max_age`` seconds whatever the feed says: the bound on
    staleness if a change ever reached the database without its report.
    """

    def __init__(self, max_age: float = 10.0) -> None:
        self.generation = 0
        self.max_age = max_age
        self._tables: dict[str, tuple[int, float, list[tuple[str, Any, str]]]] = {}

    def invalidate(self) -> None:
        self.generation += 1

    def get(
        self, exchange: str, ready: bool, fetch: Callable[[], list[tuple[str, Any, str]]]
    ) -> list[tuple[str, Any, str]]:
        if not ready:
            return fetch()
        generation = self.generation
        now = time.monotonic()
        hit = self._tables.get(exchange)
        if hit is not None and hit[0] == generation and now - hit[1] < self.max_age:
            return hit[2]
        table = fetch()
        self._tables[exchange] = (generation, now, table)
        return table
