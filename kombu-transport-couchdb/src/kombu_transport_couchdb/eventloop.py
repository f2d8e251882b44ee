"""Driving a CouchDB connection from ``kombu.asynchronous.Hub``.

The hub waits on file descriptors; CouchDB's wake-up signal is its
``_changes`` feed, an HTTP request that blocks. A :class:`FeedWatcher`
daemon thread (its own HTTP session, only a weak reference to the
transport) long-polls the feed for the consumed queues and writes a byte into
a pipe whenever one of their messages changes; the hub reads the pipe and
delivers. A short repeating timer also delivers when an ack freed prefetch
room, and re-polls every ``polling_interval`` for leases that ran out
elsewhere and delayed messages coming due (these write nothing to the feed).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from .client import CouchClient, CouchDBConnectionError, CouchDBError

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("FeedWatcher", "register", "unregister")

logger = logging.getLogger(__name__)

#: Seconds between the hub's cheap checks (no I/O unless something is due).
TICK = 0.05


class FeedWatcher:
    """A daemon thread that pokes a pipe when a consumed queue's messages change."""

    def __init__(self, transport: Transport) -> None:
        self._transport = weakref.ref(transport)
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._stop = threading.Event()
        self._info = transport.conninfo
        self._thread = threading.Thread(target=self._run, name="kombu-couchdb-feed", daemon=True)

    def start(self) -> FeedWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (bounded wait) and close the pipe."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def poke(self) -> None:
        try:
            os.write(self.write_fd, b"\0")
        except (BlockingIOError, OSError):
            pass   # full (a wake-up is already pending) or closed

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        client = CouchClient(self._info, pool_size=1)
        since: Any = None
        try:
            while not self._stop.is_set():
                transport = self._transport()
                if transport is None:
                    return
                queues = transport.consumed_queues()
                pouchdb, wait = bool(transport._pouchdb), transport.polling_interval
                del transport
                try:
                    if since is None:
                        since = client.db_info().get("update_seq")
                        self.poke()
                    if not queues:
                        self._stop.wait(TICK)
                        continue
                    latest = client.changes_longpoll(since, wait, queues, pouchdb=pouchdb)
                except (CouchDBConnectionError, CouchDBError) as exc:
                    logger.debug("couchdb: changes feed failed (%r); retrying", exc)
                    self.poke()            # the hub's next delivery surfaces the error
                    self._stop.wait(wait)
                    continue
                if latest != since:
                    since = latest
                    self.poke()
        finally:
            client.close()


def register(transport: Transport, loop: Any) -> None:
    """Deliver ``transport``'s messages from ``loop`` (see the module docs)."""
    unregister(transport, loop)
    watcher = transport._watcher = FeedWatcher(transport).start()

    def on_readable() -> None:
        watcher.drain()
        transport.deliver_ready(force=True)

    loop.add_reader(watcher.read_fd, on_readable)
    transport._loop_timer = loop.call_repeatedly(TICK, transport.deliver_ready)
    loop.call_soon(transport.deliver_ready, True)


def unregister(transport: Transport, loop: Any) -> None:
    """Undo :func:`register` (idempotent)."""
    timer, transport._loop_timer = transport._loop_timer, None
    if timer is not None:
        timer.cancel()
    watcher, transport._watcher = transport._watcher, None
    if watcher is not None:
        if loop is not None:
            loop.remove(watcher.read_fd)
        watcher.stop()
