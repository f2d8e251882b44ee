"""Global pools of connections and producers, keyed by connection.

``connections[conn]`` is a :class:`~kombu.resource.ConnectionPool` of clones
of ``conn``; ``producers[conn]`` is a :class:`ProducerPool` whose producers
use connections from ``connections[conn]``. Connections with the same
parameters (transport, host, user, password, virtual host, port and
transport options) share a pool. Every pool's limit is the global limit
(:func:`set_limit`/:func:`get_limit`, 10 by default)::

    from kombu import Connection
    from kombu.pools import producers

    with producers[Connection("memory://")].acquire(block=True) as producer:
        producer.publish({"hello": "world"}, routing_key="hello")

After ``os.fork()`` the child starts with empty pools.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from itertools import chain
from typing import Any

from .resource import Resource
from .utils.collections import EqualityDict, HashedSeq
from .utils.compat import register_after_fork
from .utils.functional import lazy

__all__ = (
    "PoolGroup",
    "ProducerPool",
    "connections",
    "get_limit",
    "producers",
    "register_group",
    "reset",
    "set_limit",
)

_limit = [10]
_groups: list[PoolGroup] = []
use_global_limit = object()
disable_limit_protection = os.environ.get("KOMBU_DISABLE_LIMIT_PROTECTION")


def _producer_class() -> type:
    from .messaging import Producer

    return Producer


class ProducerPool(Resource):
    """A pool of producers, each on a connection taken from ``connections``.

    An acquired producer holds a connection from the connection pool until
    it is released. ``Producer`` (keyword) replaces the producer class.
    """

    close_after_fork = True
    #: The producer class (``None``: :class:`kombu.Producer`); a subclass may set it.
    Producer: Any = None

    def __init__(self, connections: Resource, *args: Any, **kwargs: Any) -> None:
        self.connections = connections
        self.Producer = kwargs.pop("Producer", None) or self.Producer or _producer_class()
        super().__init__(*args, **kwargs)

    def _acquire_connection(self) -> Any:
        return self.connections.acquire(block=True)

    def create_producer(self) -> Any:
        """Make a producer on a connection acquired from the connection pool."""
        conn = self._acquire_connection()
        try:
            return self.Producer(conn)
        except BaseException:
            conn.release()
            raise

    def new(self) -> Any:
        """Return a lazy placeholder that creates a producer when evaluated."""
        return lazy(self.create_producer)

    def setup(self) -> None:
        if self.limit:
            for _ in range(self.limit - self._resource.qsize()):
                self._resource.put_nowait(self.new())

    def close_resource(self, resource: Any) -> None:
        """Producers own nothing to close; their connection goes back to its pool on release."""

    def prepare(self, p: Any) -> Any:
        if isinstance(p, lazy):
            p = p()
        if getattr(p, "_channel", None) is None:
            # Released before: give it a connection again.
            conn = self._acquire_connection()
            try:
                p.revive(conn)
            except BaseException:
                conn.release()
                raise
        return p

    def release(self, resource: Any) -> None:
        """Return the producer's connection to its pool, then the producer to this one."""
        connection = getattr(resource, "__connection__", None)
        if connection is not None:
            connection.release()
        resource.channel = None
        super().release(resource)


def _connection_key(connection: Any) -> Any:
    eqhash = getattr(connection, "__eqhash__", None)
    if eqhash is not None:
        return eqhash()
    transport_options = getattr(connection, "transport_options", None)
    return HashedSeq(
        getattr(connection, "transport_cls", None),
        getattr(connection, "hostname", None),
        getattr(connection, "userid", None),
        getattr(connection, "password", None),
        getattr(connection, "virtual_host", None),
        getattr(connection, "port", None),
        repr(transport_options),
    )


def _after_fork_cleanup_group(group: PoolGroup) -> None:
    # The pools hold the parent's connections: forget them without closing.
    for pool in list(group.values()):
        try:
            pool.force_close_all(after_fork=True)
        except Exception:  # noqa: BLE001, S110 - best effort in a fresh child
            pass
    group.clear()


class PoolGroup(EqualityDict):
    """A dict of pools created on first lookup: ``group[connection]`` is that connection's pool.

    Subclasses implement :meth:`create`. With ``limit=use_global_limit`` new
    pools take the global limit. Safe for concurrent first lookups: one pool
    per key is ever created.
    """

    def __init__(self, limit: Any = None, close_after_fork: bool = True) -> None:
        super().__init__()
        self.limit = limit
        self.close_after_fork = close_after_fork
        self._mutex = threading.RLock()
        if close_after_fork:
            register_after_fork(self, _after_fork_cleanup_group)

    def create(self, resource: Any, limit: int | None) -> Any:
        """Create the pool for ``resource`` with ``limit``."""
        raise NotImplementedError("PoolGroups must define ``create``")

    def __getitem__(self, key: Any) -> Any:
        h = _connection_key(key)
        pool = self.get(h)
        if pool is None:
            with self._mutex:
                pool = self.get(h)
                if pool is None:
                    pool = self.__missing__(key)
        return pool

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, _connection_key(key), value)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, _connection_key(key))

    def __missing__(self, resource: Any) -> Any:
        limit = self.limit
        if limit is use_global_limit:
            limit = get_limit()
        pool = self.create(resource, limit)
        self[resource] = pool
        return pool

    def __reduce__(self) -> Any:  # pragma: no cover - pools are process-local
        raise TypeError("pool groups cannot be pickled")


def register_group(group: PoolGroup) -> PoolGroup:
    """Register ``group`` so :func:`set_limit` and :func:`reset` reach its pools; return it."""
    _groups.append(group)
    return group


class Connections(PoolGroup):
    """The group of connection pools: ``connections[conn]`` is ``conn.Pool(limit)``."""

    def create(self, connection: Any, limit: int | None) -> Any:
        return connection.Pool(limit=limit)


connections = register_group(Connections(limit=use_global_limit))


class Producers(PoolGroup):
    """The group of producer pools: ``producers[conn]`` uses ``connections[conn]``."""

    def create(self, connection: Any, limit: int | None) -> Any:
        return ProducerPool(connections[connection], limit=limit)


producers = register_group(Producers(limit=use_global_limit))


def _all_pools() -> Iterator[Any]:
    return chain.from_iterable(list(group.values()) for group in _groups)


def get_limit() -> int:
    """Return the global pool limit."""
    return _limit[0]


def set_limit(limit: int, force: bool = False, reset_after: bool = False, ignore_errors: bool = False) -> int:
    """Set the global pool limit and resize every existing pool to it; return the limit.

    Shrinking pools with resources in use raises ``RuntimeError`` unless
    ``force`` or ``ignore_errors`` (see :meth:`Resource.resize`).
    """
    limit = limit or 0
    if limit != (_limit[0] or 0):
        _limit[0] = limit
        for pool in _all_pools():
            pool.resize(limit, force=force, ignore_errors=ignore_errors)
    return limit


def reset(*args: Any, **kwargs: Any) -> None:
    """Close every pool and forget them all (the next lookup creates fresh pools)."""
    for pool in _all_pools():
        try:
            pool.force_close_all()
        except Exception:  # noqa: BLE001, S110 - reset closes what it can
            pass
    for group in _groups:
        group.clear()
