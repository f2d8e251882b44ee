"""Common messaging patterns: broadcast queues, cached declarations, replies, retrying calls."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import count
from typing import Any
from uuid import NAMESPACE_OID, uuid3, uuid4, uuid5

from .entity import Exchange, Queue
from .exceptions import ChannelError, OperationalError
from .utils.uuid import uuid

__all__ = (
    "PREFETCH_COUNT_MAX",
    "Broadcast",
    "QoS",
    "collect_replies",
    "drain_consumer",
    "eventloop",
    "ignore_errors",
    "insured",
    "itermessages",
    "maybe_declare",
    "oid_from",
    "send_reply",
    "uuid",
)

#: The largest prefetch count AMQP can express; above it QoS disables the limit.
PREFETCH_COUNT_MAX = 0xFFFF

logger = logging.getLogger(__name__)

_node_id: int | None = None


def get_node_id() -> int:
    """Return a random id for this process, the same on every call."""
    global _node_id
    if _node_id is None:
        _node_id = uuid4().int
    return _node_id


def generate_oid(node_id: int, process_id: int, thread_id: int, instance: Any) -> str:
    """Return a UUID string derived from the node, process, thread and object ids."""
    ent = f"{node_id:x}-{process_id:x}-{thread_id:x}-{id(instance):x}"
    try:
        return str(uuid3(NAMESPACE_OID, ent))
    except ValueError:  # md5 unavailable (FIPS mode)
        return str(uuid5(NAMESPACE_OID, ent))


def oid_from(instance: Any, threads: bool = True) -> str:
    """Return an id unique to ``instance`` in this process (and thread, with ``threads``)."""
    return generate_oid(get_node_id(), os.getpid(), threading.get_ident() if threads else 0, instance)


class Broadcast(Queue):
    """A queue every consumer gets its own copy of: bound to a fanout exchange.

    Each instance gets a queue of its own (``bcast.<uuid>`` unless ``queue``
    names one; with ``unique`` the uuid is appended to ``queue``), bound to
    the fanout exchange ``name``, auto-deleted when unused. So every process
    consuming ``Broadcast("events")`` receives every message published to
    the ``events`` exchange.
    """

    # ``queue`` is kept so a copy (e.g. a bound one) keeps the same queue name.
    attrs = (*Queue.attrs, ("queue", None))  # type: ignore[assignment]

    def __init__(
        self,
        name: str | None = None,
        queue: str | None = None,
        unique: bool = False,
        auto_delete: bool = True,
        exchange: Exchange | None = None,
        alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        if unique:
            queue = f"{queue or 'bcast'}.{uuid()}"
        else:
            queue = queue or f"bcast.{uuid()}"
        super().__init__(
            alias=alias or name,
            queue=queue,
            name=queue,
            auto_delete=auto_delete,
            exchange=exchange if exchange is not None else Exchange(name or "", type="fanout"),
            **kwargs,
        )


def _client_of(channel: Any) -> Any:
    connection = getattr(channel, "connection", None)
    return getattr(connection, "client", None) if connection is not None else None


def _declared_cache(client: Any) -> set[Any] | None:
    if client is None:
        return None
    declared = getattr(client, "declared_entities", None)
    if declared is None:
        declared = set()
        try:
            client.declared_entities = declared
        except AttributeError:
            return None
    return declared


def declaration_cached(entity: Any, channel: Any) -> bool:
    """Whether ``entity`` was already declared on ``channel``'s connection."""
    declared = _declared_cache(_client_of(channel))
    return declared is not None and hash(entity) in declared


def _ensure_channel_is_bound(entity: Any, channel: Any) -> Any:
    if not entity.is_bound:
        if not channel:
            raise ChannelError(f"Cannot bind channel {channel} to entity {entity}")
        entity = entity.bind(channel)
    return entity


def _maybe_declare(entity: Any, channel: Any) -> bool:
    original = entity
    entity = _ensure_channel_is_bound(entity, channel)
    if channel is None or getattr(channel, "connection", None) is None:
        if not entity.is_bound:
            raise ChannelError(f"channel is None and entity {entity} not bound.")
        channel = entity.channel
    if getattr(channel, "connection", None) is None:
        from .exceptions import OperationalError as RecoverableConnectionError

        raise RecoverableConnectionError("channel disconnected")
    declared = ident = None
    if getattr(entity, "can_cache_declaration", False):
        declared = _declared_cache(_client_of(channel))
        ident = hash(entity)
        if declared is not None and ident in declared:
            return False
    entity.declare(channel=channel)
    if declared is not None and ident:
        declared.add(ident)
    if original is not entity and getattr(original, "name", None) != entity.name:
        # a server-named queue: let the caller's object learn its name
        original.name = entity.name
    return True


def maybe_declare(entity: Any, channel: Any = None, retry: bool = False, **retry_policy: Any) -> bool:
    """Declare ``entity`` (an exchange or queue) unless this connection already did.

    Declarations are remembered per connection (``declared_entities`` of
    the :class:`~kombu.Connection`, forgotten when it reconnects), so
    calling this before every publish costs a set lookup. Entities that are
    not durable or are auto-deleted (``can_cache_declaration`` false) are
    declared every time. ``channel`` is needed if ``entity`` is unbound.
    With ``retry`` the declaration is retried on connection errors following
    ``retry_policy`` (see :meth:`kombu.Connection.ensure`). Returns whether a
    declaration was sent.
    """
    if retry:
        entity = _ensure_channel_is_bound(entity, channel)
        if getattr(entity.channel, "connection", None) is None and getattr(channel, "connection", None):
            entity.revive(channel)
        client = _client_of(entity.channel)
        if client is None:
            raise OperationalError("channel disconnected")
        declared: bool = client.ensure(entity, _maybe_declare, **retry_policy)(entity, channel)
        return declared
    return _maybe_declare(entity, channel)


def eventloop(
    conn: Any, limit: int | None = None, timeout: float | None = None, ignore_timeouts: bool = False
) -> Iterator[Any]:
    """Yield after each ``conn.drain_events(timeout=timeout)``, ``limit`` times (``None``: forever).

    A ``socket.timeout`` propagates if ``timeout`` is set, unless
    ``ignore_timeouts``: then a round that timed out counts towards
    ``limit`` but yields nothing::

        for _ in eventloop(connection, timeout=1, ignore_timeouts=True):
            pass  # one round of events was handled
    """
    for _ in range(limit) if limit else count():
        try:
            yield conn.drain_events(timeout=timeout)
        except TimeoutError:
            if timeout and not ignore_timeouts:
                raise


def drain_consumer(
    consumer: Any, limit: int = 1, timeout: float | None = None, callbacks: list[Callable[..., Any]] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Consume with ``consumer`` and yield ``(body, message)`` pairs.

    Runs ``limit`` rounds of events (each waiting up to ``timeout``
    seconds) and yields at most one message per round, as Kombu 5 does.
    ``callbacks`` are called for each message too. The consumer is canceled
    at the end; messages it received that were never yielded go back to
    their queue (requeued), or, for a ``no_ack`` consumer, which cannot give
    them back, are yielded after all rather than dropped.
    """
    received: deque[tuple[Any, Any]] = deque()

    def on_message(body: Any, message: Any) -> None:
        received.append((body, message))

    consumer.callbacks = [on_message] + (callbacks or [])
    try:
        with consumer:
            client = consumer.channel.connection.client
            for _ in range(limit) if limit else count():
                if not received:  # a round drains only when nothing is buffered
                    try:
                        client.drain_events(timeout=timeout)
                    except TimeoutError:  # socket.timeout: this round yields nothing
                        continue
                if received:
                    yield received.popleft()
            if consumer.no_ack:
                while received:
                    yield received.popleft()
    finally:
        while received:  # newest first, so they end up in their original order
            _, message = received.pop()
            if not message.acknowledged:
                message.requeue()


def itermessages(
    conn: Any,
    channel: Any,
    queue: Any,
    limit: int = 1,
    timeout: float | None = None,
    callbacks: list[Callable[..., Any]] | None = None,
    **kwargs: Any,
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(body, message)`` pairs consumed from ``queue`` (see :func:`drain_consumer`)."""
    return drain_consumer(
        conn.Consumer(queues=[queue], channel=channel, **kwargs), limit=limit, timeout=timeout, callbacks=callbacks
    )


def send_reply(
    exchange: Any,
    req: Any,
    msg: Any,
    producer: Any = None,
    retry: bool = False,
    retry_policy: dict[str, Any] | None = None,
    **props: Any,
) -> Any:
    """Publish ``msg`` as the reply to request message ``req``.

    It goes to ``exchange`` with the request's ``reply_to`` as routing key
    and its ``correlation_id``, serializer and content encoding; ``props``
    override any of those.
    """
    from .serialization import registry

    serializer = registry.type_to_name.get(req.content_type, req.content_type)
    options = {
        "routing_key": req.properties["reply_to"],
        "correlation_id": req.properties.get("correlation_id"),
        "serializer": serializer,
        "content_encoding": req.content_encoding,
    }
    options.update(props)
    return producer.publish(msg, exchange=exchange, retry=retry, retry_policy=retry_policy, **options)


def collect_replies(conn: Any, channel: Any, queue: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Yield the bodies of the replies arriving on ``queue`` (arguments as for :func:`itermessages`).

    Replies are consumed with ``no_ack=True`` unless told otherwise (then
    each is acked). Once any reply arrived, the channel is told so it can
    delete a transient reply queue.
    """
    no_ack = kwargs.setdefault("no_ack", True)
    received = False
    try:
        for body, message in itermessages(conn, channel, queue, *args, **kwargs):
            if not no_ack:
                message.ack()
            received = True
            yield body
    finally:
        if received:
            after = getattr(channel, "after_reply_message_received", None)
            if after is not None:
                after(queue.name)


def _ensure_errback(exc: Exception, interval: float) -> None:
    logger.error("Connection error: %r. Retry in %ss\n", exc, interval, exc_info=exc)


@contextmanager
def _ignore_errors(conn: Any) -> Iterator[None]:
    try:
        yield
    except tuple(conn.connection_errors) + tuple(conn.channel_errors):
        pass


def ignore_errors(conn: Any, fun: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> Any:
    """Ignore ``conn``'s connection and channel errors.

    ``ignore_errors(conn, fun, *args)`` calls ``fun(*args)`` and returns its
    result (``None`` if it failed with such an error);
    ``with ignore_errors(conn):`` ignores them in the block. ``conn`` may be
    anything with ``connection_errors`` and ``channel_errors``.
    """
    if fun:
        with _ignore_errors(conn):
            return fun(*args, **kwargs)
        return None
    return _ignore_errors(conn)


def revive_connection(connection: Any, channel: Any, on_revive: Callable[[Any], Any] | None = None) -> None:
    """Call ``on_revive(channel)`` after a connection was re-established."""
    if on_revive:
        on_revive(channel)


def insured(
    pool: Any,
    fun: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    errback: Callable[..., Any] | None = None,
    on_revive: Callable[[Any], Any] | None = None,
    **opts: Any,
) -> Any:
    """Call ``fun(*args, connection=conn, **kwargs)`` with a connection from ``pool``, retrying on connection errors.

    ``errback(exc, interval)`` is called before each retry (default: log
    the error); ``on_revive(channel)`` after each reconnect; ``opts`` is the
    retry policy for :meth:`kombu.Connection.autoretry`.
    """
    errback = errback or _ensure_errback
    with pool.acquire(block=True) as conn:
        conn.ensure_connection(errback)
        channel = conn.default_channel
        revive = partial(revive_connection, conn, on_revive=on_revive)
        retrying = conn.autoretry(fun, channel, errback=errback, on_revive=revive, **opts)
        retval, _ = retrying(*args, **dict(kwargs, connection=conn))
        return retval


class QoS:
    """Prefetch count bookkeeping that can change while messages are in flight.

    ``callback(prefetch_count=n)`` applies a count (e.g. ``channel.basic_qos``).
    :meth:`increment_eventually`/:meth:`decrement_eventually` change the
    wanted value without applying it; :meth:`update` applies it. A value of
    0 means unlimited and is never changed by increments or decrements;
    decrements stop at 1. Values above ``max_prefetch`` (default
    :data:`PREFETCH_COUNT_MAX`) are applied as 0 (unlimited).
    """

    prev: int | None = None

    def __init__(self, callback: Callable[..., Any], initial_value: int, max_prefetch: int | None = None) -> None:
        self.callback = callback
        self._mutex = threading.RLock()
        self.value = initial_value or 0
        self.max_prefetch = max_prefetch

    def increment_eventually(self, n: int = 1) -> int:
        """Raise the wanted count by ``n`` (unless it is 0, unlimited); return it. Applied by :meth:`update`."""
        with self._mutex:
            if self.value:
                self.value = self.value + max(n, 0)
            return self.value

    def decrement_eventually(self, n: int = 1) -> int:
        """Lower the wanted count by ``n``, not below 1 (0 stays 0); return it. Applied by :meth:`update`."""
        with self._mutex:
            if self.value:
                self.value -= n
                self.value = max(self.value, 1)
            return self.value

    def set(self, pcount: int) -> int:
        """Apply ``pcount`` now through the callback (if it changed); return it."""
        if pcount != self.prev:
            new_value = pcount
            limit = self.max_prefetch if self.max_prefetch is not None else PREFETCH_COUNT_MAX
            if pcount > limit:
                logger.warning("QoS: Disabled: prefetch_count exceeds %r", limit)
                new_value = 0
            logger.debug("basic.qos: prefetch_count->%s", new_value)
            self.callback(prefetch_count=new_value)
            self.prev = pcount
        return pcount

    def update(self) -> int:
        """Apply the wanted count (see :meth:`set`)."""
        with self._mutex:
            return self.set(self.value)
