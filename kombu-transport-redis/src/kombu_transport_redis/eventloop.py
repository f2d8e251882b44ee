"""Driving the Redis transport from the core's :class:`~kombu.asynchronous.hub.Hub`.

On the public redis-py path (:mod:`.client_path`) there is no socket to
give the hub: the two connections are polled every
:data:`~.client_path.TURN` seconds instead.

``register(transport, hub)`` makes the hub deliver messages without
``drain_events``: every hub iteration delivers what is buffered and
fetches more (one round trip); when nothing is there, a ``BRPOP`` stays
outstanding on the blocking connection and the PUB/SUB connection is
subscribed, both watched as hub readers. Restoring expired deliveries runs
on a hub timer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .client_path import TURN, PublicPath

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("register",)

logger = logging.getLogger(__name__)


def register(transport: Transport, hub: Any) -> None:
    """Attach ``transport``'s consumers to ``hub``."""
    poller = transport.poller
    path = transport.client_path
    public = isinstance(path, PublicPath)
    watched: dict[str, Any] = {}
    #: Public path (no socket to give the hub): connections polled on a timer.
    polled: dict[str, tuple[Any, Any]] = {}

    def watch(name: str, conn: Any, callback: Any) -> None:
        if public:
            if conn is None:
                polled.pop(name, None)
            else:
                polled[name] = (conn, callback)
            return
        sock = path.fileno(conn) if conn is not None else None
        old = watched.get(name)
        if old is not None and old is not sock:
            hub.remove(old)
            watched.pop(name, None)
        if sock is not None and watched.get(name) is not sock:
            hub.add_reader(sock, callback)
            watched[name] = sock

    def pump() -> None:
        for _ in range(100):
            poller.deliver_buffered()
            if poller.brpop_outstanding():
                # the waiting BRPOP gets the next message first (FIFO)
                if not poller.poll_brpop():
                    break
            elif not poller.fetch():
                break
        poller.deliver_buffered()
        transport._after_delivery()
        block = None if transport.notify_mode() else poller.start_brpop(transport.brpop_timeout)
        sub = poller.sync_subscriptions()
        transport.flush_acks()
        transport.link.flush()
        watch("block", block, on_block)
        watch("sub", sub, on_sub)

    def on_block(*_: Any) -> None:
        if poller._brpop_keys is None:
            return
        poller.read_brpop()
        poller.deliver_buffered()

    def on_sub(*_: Any) -> None:
        poller.read_pubsub()
        poller.deliver_buffered()

    def on_tick() -> None:
        try:
            pump()
        except transport.connection_errors as exc:
            logger.warning("redis: connection error in the event loop: %r", exc)
            for name in list(watched):
                hub.remove(watched.pop(name))
            polled.clear()
            raise

    def poll_public() -> None:
        for conn, callback in list(polled.values()):
            if path.connected(conn) and conn.can_read(0):
                callback()

    hub.on_tick.add(on_tick)
    if public:
        hub.call_repeatedly(TURN, poll_public)
    hub.call_repeatedly(max(float(transport.unacked_restore_interval), 0.1), transport._maintain)
