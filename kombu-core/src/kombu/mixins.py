"""Consumer programs: :class:`ConsumerMixin` and :class:`ConsumerProducerMixin`.

Subclass, set ``self.connection`` and implement :meth:`get_consumers`::

    class Worker(ConsumerMixin):
        def __init__(self, connection):
            self.connection = connection

        def get_consumers(self, Consumer, channel):
            return [Consumer(queues=[task_queue], callbacks=[self.on_task])]

        def on_task(self, body, message):
            ...
            message.ack()

    Worker(Connection("memory://")).run()

:meth:`~ConsumerMixin.run` consumes until :attr:`~ConsumerMixin.should_stop`
is set. When the connection drops it reconnects (with back-off, see
:meth:`~ConsumerMixin.on_connection_error`) and consumes again, at most
once a second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from itertools import count
from time import sleep
from typing import Any

from .common import ignore_errors
from .utils.compat import nested
from .utils.encoding import safe_repr
from .utils.limits import TokenBucket
from .utils.objects import cached_property

__all__ = ("ConsumerMixin", "ConsumerProducerMixin")

logger = logging.getLogger(__name__)

W_CONN_LOST = "Connection to broker lost, trying to re-establish connection..."
W_CONN_ERROR = "Broker connection error, trying again in %s seconds: %r."


def _consumer_class() -> type:
    from .messaging import Consumer

    return Consumer


class ConsumerMixin:
    """A consumer program that keeps consuming across connection failures.

    Required: a ``connection`` attribute (a :class:`~kombu.Connection`; the
    mixin consumes on a clone of it) and :meth:`get_consumers`.

    Hooks, all optional: :meth:`on_connection_revived`,
    :meth:`on_consume_ready`, :meth:`on_consume_end`, :meth:`on_iteration`,
    :meth:`on_decode_error`, :meth:`on_connection_error` and
    :meth:`extra_context`.
    """

    #: Maximum connection attempts per (re)connect; ``None`` retries forever.
    connect_max_retries: int | None = None

    #: Set to true to make :meth:`run`/:meth:`consume` return.
    should_stop: bool = False

    connection: Any

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        """Return the consumers to consume from.

        ``Consumer`` is the consumer class with the channel and the
        ``on_decode_error`` hook already applied: call it with ``queues``,
        ``callbacks``, ``accept`` and so on.
        """
        raise NotImplementedError("Subclass responsibility")

    def on_connection_revived(self) -> None:
        """Called each time a connection is (re-)established."""

    def on_consume_ready(self, connection: Any, channel: Any, consumers: list[Any], **kwargs: Any) -> None:
        """Called once the consumers are consuming, before the first event."""

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        """Called after the consumers were canceled, before the connection closes."""

    def on_iteration(self) -> None:
        """Called before each wait for events."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Called for a message that cannot be decoded or is not accepted.

        By default logs it once (queue, delivery tag, content type, error)
        and rejects it without requeueing, so consuming goes on with the
        next message and the poison message never comes back. (Kombu 5
        acks it; a reject reaches a dead-letter exchange where the queue
        has one, and is otherwise the same.) Override to keep such messages
        elsewhere.
        """
        from .messaging import reject_undecodable

        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Undecodable body: %s", safe_repr(message.body)[:1024])
        reject_undecodable(message, exc)

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """Called when (re)connecting fails, before waiting ``interval`` seconds to retry."""
        logger.warning(W_CONN_ERROR, interval, exc, exc_info=exc)

    @contextmanager
    def extra_context(self, connection: Any, channel: Any) -> Iterator[None]:
        """Context entered around consuming, after the consumers started."""
        yield

    def run(self, _tokens: int = 1, **kwargs: Any) -> None:
        """Consume until :attr:`should_stop`, reconnecting after connection or channel errors."""
        restart_limit = self.restart_limit
        errors = tuple(self.connection.connection_errors) + tuple(self.connection.channel_errors)
        while not self.should_stop:
            try:
                if restart_limit.can_consume(_tokens):
                    for _ in self.consume(limit=None, **kwargs):
                        pass
                else:
                    sleep(restart_limit.expected_time(_tokens))
            except errors:
                logger.warning(W_CONN_LOST, exc_info=True)

    @contextmanager
    def consumer_context(self, **kwargs: Any) -> Iterator[tuple[Any, Any, list[Any]]]:
        """Context giving ``(connection, channel, consumers)`` with the consumers consuming."""
        with self.Consumer() as (connection, channel, consumers):
            with self.extra_context(connection, channel):
                self.on_consume_ready(connection, channel, consumers, **kwargs)
                yield connection, channel, consumers

    def consume(
        self, limit: int | None = None, timeout: float | None = None, safety_interval: float = 1, **kwargs: Any
    ) -> Iterator[None]:
        """Connect, start the consumers and yield after each batch of events.

        Stops after ``limit`` yields or when :attr:`should_stop` is set.
        Waits for events at most ``safety_interval`` seconds at a time (so
        ``should_stop`` is noticed); after ``timeout`` seconds without any
        event, ``socket.timeout`` is raised.
        """
        elapsed = 0.0
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            for _ in range(limit) if limit else count():
                if self.should_stop:
                    break
                self.on_iteration()
                try:
                    conn.drain_events(timeout=safety_interval)
                except TimeoutError:
                    conn.heartbeat_check()
                    elapsed += safety_interval
                    if timeout and elapsed >= timeout:
                        raise
                except OSError:
                    if not self.should_stop:
                        raise
                else:
                    yield
                    elapsed = 0

    def maybe_conn_error(self, fun: Any) -> Any:
        """Call ``fun()``, ignoring connection and channel errors."""
        return ignore_errors(self, fun)

    def create_connection(self) -> Any:
        """Return the connection to consume on (a clone of :attr:`connection`)."""
        return self.connection.clone()

    @contextmanager
    def establish_connection(self) -> Iterator[Any]:
        """Context giving a connected connection (retrying with :meth:`on_connection_error`)."""
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries)
            yield conn

    @contextmanager
    def Consumer(self) -> Iterator[tuple[Any, Any, list[Any]]]:
        """Context: connect, create the consumers of :meth:`get_consumers` and consume."""
        with self.establish_connection() as conn:
            self.on_connection_revived()
            logger.info("Connected to %s", conn.as_uri())
            channel = conn.default_channel
            cls = partial(_consumer_class(), channel, on_decode_error=self.on_decode_error)
            with self._consume_from(*self.get_consumers(cls, channel)) as consumers:
                yield conn, channel, list(consumers)
            logger.debug("Consumers canceled")
            self.on_consume_end(conn, channel)
        logger.debug("Connection closed")

    def _consume_from(self, *consumers: Any) -> Any:
        return nested(*consumers)

    @cached_property
    def restart_limit(self) -> TokenBucket:
        """Limits reconnect attempts to one per second."""
        return TokenBucket(1)

    @cached_property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        """The connection's recoverable connection errors."""
        return tuple(self.connection.connection_errors)

    @cached_property
    def channel_errors(self) -> tuple[type[BaseException], ...]:
        """The connection's recoverable channel errors."""
        return tuple(self.connection.channel_errors)


class ConsumerProducerMixin(ConsumerMixin):
    """A :class:`ConsumerMixin` that also publishes, on a connection of its own.

    Use :attr:`producer` in callbacks (e.g. to send replies): publishing on a
    separate connection keeps a blocked publish from stalling consumption.
    """

    _producer_connection: Any = None

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        if self._producer_connection is not None:
            self._producer_connection.close()
            self._producer_connection = None

    @property
    def producer(self) -> Any:
        """A producer on :attr:`producer_connection`."""
        from .messaging import Producer

        return Producer(self.producer_connection)

    @property
    def producer_connection(self) -> Any:
        """The publishing connection, a clone of ``connection`` made on first use."""
        if self._producer_connection is None:
            conn = self.connection.clone()
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries)
            self._producer_connection = conn
        return self._producer_connection
