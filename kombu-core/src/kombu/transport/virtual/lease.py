"""Keeping the leases of a consumer's unacknowledged messages alive.

Brokers that hand a message out under a lease (SQS visibility timeout, a
lease field in a MongoDB/CouchDB document, beanstalkd's TTR) give it to
another consumer when the lease runs out, even if the first consumer is only
slow. :class:`LeaseKeeper` is a daemon thread that renews those leases every
``interval`` seconds for as long as its owner lives.

The hook contract (what a transport implements)
-----------------------------------------------

The owner is normally a virtual channel. Every tick the keeper:

1. resolves its *weak* reference to the owner; if the owner was garbage
   collected, or ``owner.closed`` is true, the thread exits;
2. takes the messages to renew: ``owner._lease_messages()`` when the owner
   defines it, else a snapshot of the channel's unacknowledged deliveries
   (``owner.qos._delivered``), i.e. :class:`~kombu.transport.virtual.Message`
   objects whose ``delivery_tag``, ``queue`` and ``_raw`` envelope identify
   the broker-side lease (put a receipt handle or lease id in the envelope's
   ``properties`` in ``_get`` to find it again);
3. if there is at least one message, calls the renew hook with the list:
   by default ``owner._renew_leases(messages)``; a transport may pass
   ``renew=`` a plain function ``renew(owner, messages)`` instead (a
   function, not a bound method, so the keeper holds no strong reference).

The hook runs in the keeper's thread, concurrently with the application:
it must use its own broker connection (or a thread-safe client) and must
tolerate a message acked meanwhile (renewing an acked message must be a
harmless no-op or error). An exception from the hook is logged (a warning
on the first failure, then debug until a renewal succeeds) and the renewal
is tried again next tick; it never stops the thread.

Lifetime: the keeper holds only a weak reference to its owner, so it never
keeps a channel or connection alive. It stops when :meth:`LeaseKeeper.stop`
is called (e.g. from ``Channel.close``), when the owner is closed, or
promptly (without waiting for the next tick) when the owner is garbage
collected -- a ``Connection`` dropped without ``close()`` leaves no thread
behind, and its messages' leases then run out and are redelivered.

Pick ``interval`` well below the lease duration (a third of it is usual),
so that one failed renewal does not lose the lease.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ("LeaseKeeper", "RenewHook")

logger = logging.getLogger(__name__)

#: ``renew(owner, messages)``: renew the broker-side leases of ``messages``.
RenewHook = Callable[[Any, Sequence[Any]], Any]


def _default_renew(owner: Any, messages: Sequence[Any]) -> Any:
    return owner._renew_leases(messages)


def _held_messages(owner: Any) -> list[Any]:
    lease_messages = getattr(owner, "_lease_messages", None)
    if lease_messages is not None:
        return list(lease_messages())
    qos = getattr(owner, "_qos", None)
    if qos is None:
        return []
    # A snapshot: the application thread may ack while we iterate.
    return list(tuple(qos._delivered.values()))


class LeaseKeeper:
    """A daemon thread renewing its owner's leases every ``interval`` seconds.

    Args:
        owner: the channel (or any object) whose messages are renewed; only
            weakly referenced.
        interval: seconds between renewals (at least 0.01).
        renew: ``renew(owner, messages)``; default calls
            ``owner._renew_leases(messages)``. Must not be a bound method of
            ``owner`` (that would keep it alive).
        name: the thread's name.

    :meth:`start` starts the thread (idempotent); :meth:`stop` stops it and
    waits for it; a stopped keeper never starts again (make a new one). ``renewals`` counts successful hook calls and ``errors``
    failed ones.
    """

    def __init__(self, owner: Any, interval: float, renew: RenewHook | None = None, name: str | None = None) -> None:
        if getattr(renew, "__self__", None) is owner and owner is not None:
            raise ValueError("renew must not be a bound method of the owner (it would keep it alive)")
        self._owner = weakref.ref(owner)
        self.interval = max(0.01, float(interval))
        self._renew: RenewHook = renew if renew is not None else _default_renew
        self.name = name or f"kombu-lease-{type(owner).__name__}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.errors = 0
        # Wake the thread as soon as the owner is collected; the callback
        # holds the event only, never the owner.
        self._finalizer = weakref.finalize(owner, self._stop.set)
        self._finalizer.atexit = False

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LeaseKeeper:
        """Start the thread if it is not running; return ``self``."""
        if self.running or self._stop.is_set():
            return self
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def renew_now(self) -> int:
        """Renew the owner's held messages once, in the calling thread.

        Returns how many messages were handed to the hook (0 when none, or
        when the owner is gone or closed). Hook errors propagate.
        """
        owner = self._owner()
        if owner is None or getattr(owner, "closed", False):
            return 0
        messages = _held_messages(owner)
        if not messages:
            return 0
        self._renew(owner, messages)
        self.renewals += 1
        return len(messages)

    def _owner_gone(self) -> bool:
        owner = self._owner()
        return owner is None or bool(getattr(owner, "closed", False))

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            if self._owner_gone():
                break
            try:
                self.renew_now()
            except Exception as exc:  # noqa: BLE001 - logged, retried next tick
                self.errors += 1
                level = logging.DEBUG if failing else logging.WARNING
                logger.log(level, "%s: lease renewal failed (retrying in %.3gs): %r", self.name, self.interval, exc)
                failing = True
            else:
                if failing:
                    logger.info("%s: lease renewal recovered", self.name)
                failing = False
        self._stop.set()
