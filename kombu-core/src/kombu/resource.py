"""Pools of reusable resources: :class:`Resource`, :class:`ConnectionPool`, :class:`ChannelPool`.

A pool with a ``limit`` hands out at most that many resources at once:
:meth:`Resource.acquire` raises the pool's ``LimitExceeded`` subclass when
none is free (after waiting ``timeout`` seconds if ``block``). Resources are
created lazily, on first acquire, and reused most-recently-released first.
A pool without a limit creates a resource per acquire and closes it on
release. Acquired resources get a ``release()`` method that returns them to
the pool, so ``with pool.acquire() as conn:`` gives the connection back at
the end of the block.

Pools are safe to share between threads. After ``os.fork()`` the child
forgets the parent's resources (it must not share the parent's sockets) and
starts afresh.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty, LifoQueue
from typing import Any

from . import exceptions
from .utils.compat import register_after_fork
from .utils.functional import lazy

__all__ = ("ChannelPool", "ConnectionPool", "LifoQueue", "Resource")


class _LifoQueue(LifoQueue):  # type: ignore[type-arg]
    """A LIFO queue on a deque, so the pool can drop items from the far end."""

    def _init(self, maxsize: int) -> None:
        self.queue = deque()  # type: ignore[assignment]


def _after_fork_cleanup_resource(resource: Resource) -> None:
    try:
        resource.force_close_all(close_pool=False, after_fork=True)
    except Exception:  # noqa: BLE001, S110 - best effort in a fresh child
        pass


class Resource:
    """A pool of resources; subclasses say how to make, prepare and close one.

    Subclasses implement :meth:`new` (and usually :meth:`setup`, to preload
    lazy placeholders up to the limit) and may override :meth:`prepare`,
    :meth:`close_resource`, :meth:`release_resource` and
    :meth:`collect_resource`.
    """

    #: Raised by :meth:`acquire` when the pool is exhausted.
    LimitExceeded: type[exceptions.LimitExceeded] = exceptions.LimitExceeded

    #: Whether a forked child should forget the parent's resources.
    close_after_fork: bool = False

    def __init__(
        self, limit: int | None = None, preload: int | None = None, close_after_fork: bool | None = None
    ) -> None:
        self._limit = limit
        self.preload = preload or 0
        self._closed = False
        if close_after_fork is not None:
            self.close_after_fork = close_after_fork
        self._resource: _LifoQueue = _LifoQueue()
        self._dirty: set[Any] = set()
        self._grow_lock = threading.Lock()
        self._pid = os.getpid()
        if self.close_after_fork:
            register_after_fork(self, _after_fork_cleanup_resource)
        self.setup()

    def setup(self) -> None:
        """Fill the pool with (lazy) resources; called on creation and resize."""
        raise NotImplementedError("subclass responsibility")

    def new(self) -> Any:
        """Create a new resource (or a lazy placeholder evaluated by :meth:`prepare`)."""
        raise NotImplementedError("subclass responsibility")

    def _add_when_empty(self) -> None:
        with self._grow_lock:
            if self._resource.qsize():
                return  # one was released meanwhile: take that
            if self.limit and len(self._dirty) >= self.limit:
                raise self.LimitExceeded(self.limit)
            self._resource.put_nowait(self.new())

    def acquire(self, block: bool = False, timeout: float | None = None) -> Any:
        """Take a resource from the pool.

        With a limit and every resource in use: without ``block``, raise
        :attr:`LimitExceeded` at once; with ``block``, wait up to ``timeout``
        seconds (``None``: forever) for one to be released, then raise.
        The returned resource has a ``release()`` that gives it back.
        Raises ``RuntimeError`` if the pool was closed.
        """
        if self._closed:
            raise RuntimeError("Acquire on closed pool")
        if self.limit:
            while True:
                try:
                    resource = self._resource.get(block=block, timeout=timeout)
                except Empty:
                    self._add_when_empty()
                    # the new one was put in the queue; take it without waiting
                    block = False
                    continue
                try:
                    resource = self.prepare(resource)
                except BaseException:
                    if isinstance(resource, lazy):
                        # Not created yet: its slot goes back to the pool.
                        self._resource.put_nowait(resource)
                    else:
                        # Already made: given back, neither leaked nor lost (Kombu 5.7).
                        self.release(resource)
                    raise
                self._dirty.add(resource)
                break
        else:
            resource = self.prepare(self.new())

        def release() -> None:
            self.release(resource)

        resource.release = release
        return resource

    def prepare(self, resource: Any) -> Any:
        """Turn what the pool holds into a usable resource (e.g. evaluate a lazy one)."""
        return resource

    def close_resource(self, resource: Any) -> None:
        """Close ``resource`` for good."""
        resource.close()

    def release_resource(self, resource: Any) -> None:
        """Hook called when ``resource`` goes back to the pool."""

    def replace(self, resource: Any) -> None:
        """Close a defective ``resource`` instead of returning it; its slot is refilled on demand."""
        if self.limit:
            self._dirty.discard(resource)
        self.close_resource(resource)

    def release(self, resource: Any) -> None:
        """Give ``resource`` back to the pool (without a limit: close it)."""
        if self.limit:
            self._dirty.discard(resource)
            self._resource.put_nowait(resource)
            self.release_resource(resource)
        else:
            self.close_resource(resource)

    def collect_resource(self, resource: Any) -> None:
        """Release ``resource``'s resources without talking to the broker (used when closing the pool)."""

    def force_close_all(self, close_pool: bool = True, after_fork: bool = False) -> None:
        """Close every resource, in use or not.

        With ``close_pool`` the pool refuses further acquires. With
        ``after_fork`` the resources belong to the parent process and are
        only forgotten, not closed.
        """
        if self._closed:
            return
        self._closed = close_pool
        dirty, self._dirty = self._dirty, set()
        with self._resource.mutex:
            queued = list(self._resource.queue)
            self._resource.queue.clear()
        if not after_fork:
            for resource in list(dirty) + queued:
                if isinstance(resource, lazy):
                    continue
                try:
                    self.collect_resource(resource)
                except AttributeError:
                    pass
        self._pid = os.getpid()
        if not close_pool:
            self.setup()

    def resize(self, limit: int, force: bool = False, ignore_errors: bool = False, reset: bool = False) -> None:
        """Change the limit.

        Shrinking a pool with resources in use raises ``RuntimeError``
        unless ``force`` (which closes everything first, like ``reset``) or
        ``ignore_errors``. Resources in use count against the new limit:
        the pool never holds more than ``limit`` resources in all.
        ``limit`` must be an int (``True`` is a ``TypeError``, not 1).
        """
        if isinstance(limit, bool):
            raise TypeError("limit must be an int, not bool")
        previous = self._limit
        if self._dirty and 0 < limit < (self._limit or 0) and not ignore_errors:
            if not force:
                raise RuntimeError(f"Can't shrink pool when in use: was={self._limit} now={limit}")
            reset = True
        self._limit = limit
        if reset:
            try:
                self.force_close_all(close_pool=False)
            except Exception:  # noqa: BLE001, S110 - resizing goes on with fresh resources
                pass
        self.setup()
        if previous and limit < previous:
            self._shrink_down(collect=limit > 0)

    def _shrink_down(self, collect: bool = True) -> None:
        queue = self._resource
        with queue.mutex:
            while queue.queue and len(queue.queue) + len(self._dirty) > (self.limit or 0):
                resource = queue.queue.popleft()  # type: ignore[attr-defined]
                if collect and not isinstance(resource, lazy):
                    try:
                        self.collect_resource(resource)
                    except AttributeError:
                        pass

    @property
    def limit(self) -> int | None:
        """The most resources handed out at once (``None`` or 0: no limit)."""
        return self._limit

    @limit.setter
    def limit(self, limit: int) -> None:
        self.resize(limit)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: limit={self.limit} in_use={len(self._dirty)} free={self._resource.qsize()}>"


class ConnectionPool(Resource):
    """A pool of connections, each a clone of ``connection``.

    Acquired connections connect lazily on first use; ``conn.release()`` (or
    leaving ``with``) returns them.
    """

    LimitExceeded = exceptions.ConnectionLimitExceeded
    close_after_fork = True

    def __init__(self, connection: Any, limit: int | None = None, **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(limit=limit, **kwargs)

    def new(self) -> Any:
        """Return a new, unconnected clone of the pool's connection."""
        return self.connection.clone()

    def close_resource(self, resource: Any) -> None:
        close = getattr(resource, "_close", None) or resource.close
        close()

    def collect_resource(self, resource: Any, socket_timeout: float = 0.1) -> Any:
        """Drop ``resource`` without talking to the broker, unless it holds
        unconfirmed publishes: then it is closed (one attempt to re-send them)."""
        collect = getattr(resource, "collect", None)
        if collect is None:
            return self.close_resource(resource)
        collect(socket_timeout)
        if getattr(resource, "__dict__", {}).get("_unconfirmed"):
            self.close_resource(resource)
        return None

    @contextmanager
    def acquire_channel(self, block: bool = False) -> Iterator[tuple[Any, Any]]:
        """Context manager giving ``(connection, connection.default_channel)`` from the pool."""
        with self.acquire(block=block) as connection:
            yield connection, connection.default_channel

    def setup(self) -> None:
        if self.limit:
            queue = self._resource.queue
            while len(queue) < self.limit - len(self._dirty):  # resources in use count
                self._resource.put_nowait(lazy(self.new))

    def prepare(self, resource: Any) -> Any:
        if isinstance(resource, lazy):
            resource = resource()
        if self.limit:
            # Leaving ``with pool.acquire() as conn:`` by an exception closes the
            # connection before it goes back: it may be unusable (Kombu 5.7).
            resource._pool = self
        return resource


class ChannelPool(Resource):
    """A pool of channels of one ``connection``; channels are opened on first acquire."""

    LimitExceeded = exceptions.ChannelLimitExceeded

    def __init__(self, connection: Any, limit: int | None = None, **kwargs: Any) -> None:
        self.connection = connection
        super().__init__(limit=limit, **kwargs)

    def new(self) -> Any:
        """Return a lazy placeholder that opens a channel when evaluated."""
        return lazy(self.connection.channel)

    def setup(self) -> None:
        if self.limit:
            queue = self._resource.queue
            while len(queue) < self.limit - len(self._dirty):  # resources in use count
                self._resource.put_nowait(self.new())

    def prepare(self, channel: Any) -> Any:
        if isinstance(channel, lazy):
            channel = channel()
        return channel
