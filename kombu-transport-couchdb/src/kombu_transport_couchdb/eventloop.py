"""Driving a CouchDB connection from ``kombu.asynchronous.Hub``.

The hub waits on file descriptors; CouchDB's wake-up signal is its
``_changes`` feed, an HTTP stream read by the connection's
:class:`~.watch.FeedWatcher` thread. The watcher writes a byte into a pipe
whenever a message of a consumed queue changes; the hub reads the pipe and
delivers. A short repeating timer also delivers
when an ack freed prefetch room, and looks again every ``polling_interval``
for leases that ran out elsewhere and delayed messages coming due (these
write nothing to the feed).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Waker", "register", "unregister", "TICK")

#: Seconds between the hub's cheap checks (no I/O unless something is due).
TICK = 0.05


class Waker:
    """A non-blocking pipe: ``poke()`` from any thread makes ``read_fd`` readable."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def poke(self) -> None:
        try:
            os.write(self.write_fd, b"\0")
        except OSError:
            pass  # full (a wake-up is already pending) or closed

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def register(transport: Transport, loop: Any) -> None:
    """Deliver ``transport``'s messages from ``loop`` (see the module docs)."""
    unregister(transport, loop)
    waker = Waker()
    watcher = transport.watcher
    watcher.wakers.add(waker.poke)
    transport._hub = (loop, waker, watcher)

    def on_readable() -> None:
        waker.drain()
        transport.deliver_ready(force=True)

    loop.add_reader(waker.read_fd, on_readable)
    transport._loop_timer = loop.call_repeatedly(TICK, transport.deliver_ready)
    loop.call_soon(transport.deliver_ready, True)


def unregister(transport: Transport, loop: Any) -> None:
    """Undo :func:`register` (idempotent)."""
    timer, transport._loop_timer = transport._loop_timer, None
    if timer is not None:
        timer.cancel()
    hub, transport._hub = transport._hub, None
    if hub is not None:
        registered_loop, waker, watcher = hub
        (loop or registered_loop).remove(waker.read_fd)
        watcher.wakers.discard(waker.poke)
        waker.close()
