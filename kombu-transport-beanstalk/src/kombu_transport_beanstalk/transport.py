"""The beanstalkd transport (``beanstalk://host[:port]``).

Also importable as ``kombu.transport.beanstalk`` (the module path of Kombu
1.x-3.x's beanstalk transport), with the names ``Transport`` and ``Channel``.

beanstalkd stores jobs, not routing: exchanges and bindings live in this
process (:data:`REGISTRY`, shared by every beanstalk connection), so every process
that publishes through an exchange must declare it and its queues, as with
Kombu's original beanstalk transport. See the README for options and
guarantees.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import greenstalk
from kombu.transport import virtual
from kombu.transport.virtual.base import BrokerState

from .channel import Channel, QoS
from .channel import Channel as BeanstalkChannel
from .link import BeanstalkConnectionError, JobTooBig, Link, Put
from .names import InvalidQueueName
from .protocol import DEADLINE_SOON_MARGIN, DEFAULT_PORT, MIN_TTR, whole_seconds

__all__ = (
    "Transport",
    "Channel",
    "QoS",
    "ServerRegistry",
    "BeanstalkConnectionError",
    "JobTooBig",
    "InvalidQueueName",
    "DEFAULT_PORT",
    "REGISTRY",
)

logger = logging.getLogger(__name__)

#: The smallest TTR this transport uses: a lease must outlive the renewal
#: period plus beanstalkd's DEADLINE_SOON margin.
MIN_VISIBILITY_TIMEOUT = max(MIN_TTR, 2)


@dataclass
class ServerRegistry:
    """What this process knows beyond the jobs: exchanges, bindings, declared queues."""

    state: BrokerState = field(default_factory=BrokerState)
    #: Queues declared in this process (beanstalkd has no empty tubes).
    queues: set[str] = field(default_factory=set)
    #: Queues declared with ``x-beanstalk-bury-rejected``.
    bury_rejected: set[str] = field(default_factory=set)


#: One registry for every beanstalk connection of the process, as Kombu's
#: virtual transports share one topology: a server reached under two
#: addresses (a proxy, a failover alternate) must route the same way.
REGISTRY = ServerRegistry()


#: Every live transport, so that a forked child forgets its parent's connections.
_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for transport in list(_TRANSPORTS):
        transport._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Transport(virtual.Transport):
    """beanstalkd on the core's virtual engine (greenstalk client)."""

    Channel = Channel
    default_port = DEFAULT_PORT
    driver_type = "beanstalk"
    driver_name = "greenstalk"
    #: Sleep between polls when a wait is shorter than a second (beanstalkd
    #: waits in whole seconds) or several channels consume.
    polling_interval: float | None = 0.05
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    )
    connection_errors = virtual.Transport.connection_errors + (BeanstalkConnectionError, ConnectionError)
    channel_errors = virtual.Transport.channel_errors + (greenstalk.BeanstalkdError, InvalidQueueName, JobTooBig)

    #: Messages one event-loop tick (:meth:`deliver_ready`) delivers at most
    #: (option ``max_drain``); ``drain_events`` delivers one.
    max_drain = 100
    #: Jobs one reserve round may take (within the prefetch room), option ``reserve_batch``.
    reserve_batch = 100
    #: Puts sent before their confirmations are read, option ``publish_window``.
    publish_window = 64
    #: True while consumer callbacks run inside ``drain_events``: their acks are
    #: sent with the next reserve or when the drain returns.
    delivering = False
    #: Transport option defaults.
    visibility_timeout: float = 120.0
    max_block: float = 1.0
    socket_timeout: float | None = 30.0
    lease_interval_option: float | None = None
    bury_rejected: Any = False

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        opts = dict(client.transport_options or {}) if client is not None else {}
        for name in (
            "visibility_timeout",
            "max_block",
            "socket_timeout",
            "bury_rejected",
            "max_drain",
            "reserve_batch",
            "publish_window",
        ):
            if opts.get(name) is not None:
                setattr(self, name, opts[name])
        if opts.get("ttr") is not None:
            self.visibility_timeout = float(opts["ttr"])
        self.ttr = max(MIN_VISIBILITY_TIMEOUT, whole_seconds(float(self.visibility_timeout)))
        self.lease_interval = float(opts.get("lease_interval") or max(0.2, (self.ttr - DEADLINE_SOON_MARGIN) / 3))
        host = (client.hostname if client is not None else None) or "127.0.0.1"
        port = int((client.port if client is not None else None) or DEFAULT_PORT)
        self.address = (host, port)
        self.connect_timeout = getattr(client, "connect_timeout", None) if client is not None else None
        self.registry = REGISTRY
        self._spare: Link | None = None
        #: Puts of broken connections never confirmed: re-sent on the next one.
        self._lost: list[Put] = []
        self._timer_entry: Any = None
        _TRANSPORTS.add(self)

    def _forget_after_fork(self) -> None:
        """In a forked child: drop (never use or close) the parent's connections and jobs.

        The jobs are reserved by the parent's connections; the child acking or
        releasing them, or re-sending the parent's unconfirmed puts, would
        act twice. The child opens its own connections when it needs them.
        """
        self._spare = None
        self._lost.clear()
        for channel in list(self.channels):
            channel._forget_after_fork()  # type: ignore[attr-defined]

    # -- shared state -----------------------------------------------------------------
    @property
    def state(self) -> BrokerState:  # type: ignore[override]
        return self.registry.state

    def bury_rejected_for(self) -> set[str] | frozenset[str]:
        """Queues whose rejected messages are buried (option ``bury_rejected`` and queue argument)."""
        option = self.bury_rejected
        if option is True:
            return _Everything()
        named = set(option) if option else set()
        return named | self.registry.bury_rejected

    # -- connections ------------------------------------------------------------------
    def _new_link(self) -> Link:
        """A connection for a channel; re-sends what broken connections left unconfirmed."""
        spare, self._spare = self._spare, None
        link = spare if spare is not None and not spare.closed else self._connect()
        if self._lost:
            lost, self._lost[:] = list(self._lost), []
            link.resend(lost)  # on failure they are back in self._lost
        return link

    def _connect(self) -> Link:
        return Link(
            *self.address,
            connect_timeout=self.connect_timeout,
            socket_timeout=self.socket_timeout,
            lost=self._lost,
            window=self.publish_window,
        )

    def establish_connection(self) -> Transport:
        """Check that beanstalkd answers (the connection becomes the first channel's)."""
        if self._spare is None or self._spare.closed:
            link = self._connect()
            link.ping()
            self._spare = link
        return self

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()
        if self._lost:
            self._resend_before_closing()

    def _resend_before_closing(self) -> None:
        """Last chance for puts a broken connection never had confirmed."""
        try:
            link = self._new_link()
            link.close()
        except self.connection_errors as exc:
            logger.warning(
                "beanstalk: %d published message(s) were not confirmed by the server "
                "and could not be re-sent before closing: %r",
                len(self._lost),
                exc,
            )

    # -- publishes never confirmed (kombu.Connection.collect hands them on) -------------
    def _collect(self, connection: Any) -> None:
        """Drop every connection without talking to the server (it is presumed dead)."""
        for channel in list(self.channels):
            link = channel._link  # type: ignore[attr-defined]
            if link is not None:
                link.abandon()
        if self._spare is not None:
            self._spare.abandon()
            self._spare = None

    def take_unconfirmed(self) -> list[Put] | None:
        """Hand over the puts never confirmed, for the next transport of the connection."""
        for channel in list(self.channels):
            link = channel._link  # type: ignore[attr-defined]
            if link is not None and link.closed and link._unconfirmed:
                link.abandon()
        taken, self._lost[:] = list(self._lost), []
        return taken or None

    def adopt_unconfirmed(self, window: Any) -> None:
        """Take over another transport's unconfirmed puts; they are re-sent on the next connection."""
        self._lost.extend(window)
        if self._spare is not None and not self._spare.closed:
            lost, self._lost[:] = list(self._lost), []
            self._spare.resend(lost)

    def verify_connection(self, connection: Any) -> bool:
        """Whether a connection of this transport is still open (no I/O)."""
        links = [getattr(ch, "_link", None) for ch in self.channels if not ch.closed]
        links.append(self._spare)
        return any(link is not None and not link.closed for link in links)

    def driver_version(self) -> str:
        return str(greenstalk.__version__)

    def _owner_of(self, job_id: Any) -> BeanstalkChannel | None:
        for channel in self.channels:
            if job_id in channel._jobs:  # type: ignore[attr-defined]
                return channel  # type: ignore[return-value]
        return None

    # -- waiting ----------------------------------------------------------------------
    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver one message to its consumer; raise ``socket.timeout`` if none came in time.

        One message per call, as on Kombu 5's virtual transports (Kombu's
        counted loops count drains). Jobs are still reserved a prefetch
        window at a time; the rest wait in the channel for the next calls.
        Acks made in the callback are sent before this returns, or, while
        the channel still holds reserved jobs to deliver, with its next
        ``reserve`` (at the latest by the lease thread's next round, well
        inside the TTR, or when the channel closes).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.delivering = True
        try:
            while True:
                if self._deliver_ready_round():
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError()  # socket.timeout
                self._wait_for_messages(None, remaining)
        finally:
            self.delivering = False
            self._flush_acks(drained_only=True)

    def _flush_acks(self, drained_only: bool = False) -> None:
        """Send the deferred acks (with ``drained_only``: of channels with nothing left to deliver)."""
        for channel in self.channels:
            link = channel._link  # type: ignore[attr-defined]
            if link is not None and link._deferred and not (drained_only and channel._pending):  # type: ignore[attr-defined]
                link.flush()

    def _wait_for_messages(self, token: Any, timeout: float | None) -> None:
        """Block in ``reserve`` when one channel consumes and a whole second fits; else sleep."""
        consuming = self._consuming
        block = self.max_block if timeout is None else min(self.max_block, timeout)
        if len(consuming) == 1 and block >= 1 and consuming[0].can_wait():  # type: ignore[attr-defined]
            consuming[0].wait_for_job(int(block))  # type: ignore[attr-defined]
            return
        # several consumers, a wait under a second, or no prefetch room: sleep and poll
        interval = self.polling_interval or 0.05
        time.sleep(interval if timeout is None else max(0.0, min(interval, timeout)))

    # -- event loop (kombu.asynchronous.Hub) --------------------------------------------
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver from ``loop``: a non-blocking reserve pass every ``polling_interval``."""
        if self._timer_entry is not None:
            self._timer_entry.cancel()
        self._timer_entry = loop.call_repeatedly(self.polling_interval or 0.05, self.deliver_ready)
        loop.call_soon(self.deliver_ready)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None

    def deliver_ready(self) -> int:
        """Deliver what is ready now (at most ``max_drain``); return how many."""
        delivered = 0
        self.delivering = True
        try:
            while delivered < self.max_drain and self._deliver_ready_round():
                delivered += 1
        finally:
            self.delivering = False
            self._flush_acks()
        return delivered


class _Everything(frozenset):  # type: ignore[type-arg]
    """A set that contains every queue name (``bury_rejected=True``)."""

    def __contains__(self, item: object) -> bool:
        return True
