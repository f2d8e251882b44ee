"""Queue-like messaging: :class:`SimpleQueue` and :class:`SimpleBuffer`.

An interface in the spirit of :class:`queue.Queue` over a broker queue::

    with Connection("memory://") as conn:
        queue = conn.SimpleQueue("tasks")
        queue.put({"hello": "world"})
        message = queue.get(block=True, timeout=1)
        message.ack()
        queue.close()

:meth:`~SimpleBase.get` returns a :class:`~kombu.message.Message` (ack it,
unless the queue was made with ``no_ack``) and raises :class:`queue.Empty`
(also available as ``SimpleQueue.Empty``) when nothing arrives in time.
"""

from __future__ import annotations

from collections import deque
from queue import Empty
from time import monotonic
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .entity import Queue
    from .messaging import Consumer, Producer

__all__ = ("SimpleBuffer", "SimpleQueue")


def _maybe_channel(channel: Any) -> Any:
    """Return the connection's default channel if ``channel`` is a connection."""
    from .connection import Connection

    if isinstance(channel, Connection):
        return channel.default_channel
    return channel


def _client(channel: Any) -> Any:
    """Return the :class:`~kombu.Connection` a channel belongs to."""
    return channel.connection.client


class SimpleBase:
    """A queue-like wrapper around one producer and one consumer of a queue."""

    #: Raised by :meth:`get` and :meth:`get_nowait` when no message is ready.
    Empty = Empty
    _consuming = False

    def __init__(self, channel: Any, producer: Producer, consumer: Consumer, no_ack: bool = False) -> None:
        self.channel = _maybe_channel(channel)
        self.producer = producer
        self.consumer = consumer
        self.no_ack = no_ack
        self.queue: Queue = self.consumer.queues[0]
        self.buffer: deque[Any] = deque()
        self.consumer.register_callback(self._receive)

    def __enter__(self) -> SimpleBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Return the next message, waiting up to ``timeout`` seconds (``None``: forever).

        Without ``block`` this is :meth:`get_nowait`. Raises :attr:`Empty`
        when the time runs out.
        """
        if not block:
            return self.get_nowait()
        self._consume()
        started = monotonic()
        remaining = timeout
        while True:
            if self.buffer:
                return self.buffer.popleft()
            if remaining is not None and remaining <= 0.0:
                raise self.Empty()
            try:
                _client(self.channel).drain_events(timeout=remaining)
            except TimeoutError:
                raise self.Empty() from None
            if timeout is not None:
                remaining = timeout - (monotonic() - started)

    def get_nowait(self) -> Any:
        """Return the next message if one is ready now, else raise :attr:`Empty`."""
        if self.buffer:
            return self.buffer.popleft()
        message = self.queue.get(no_ack=self.no_ack, accept=self.consumer.accept)
        if not message:
            raise self.Empty()
        return message

    def put(
        self,
        message: Any,
        serializer: str | None = None,
        headers: dict[str, Any] | None = None,
        compression: str | None = None,
        routing_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Publish ``message`` to the queue (extra keyword arguments go to ``Producer.publish``)."""
        self.producer.publish(
            message,
            serializer=serializer,
            routing_key=routing_key,
            headers=headers,
            compression=compression,
            **kwargs,
        )

    def clear(self) -> int:
        """Delete every message waiting in the queue; return how many were deleted."""
        return self.consumer.purge()

    def qsize(self) -> int:
        """Return the number of messages waiting in the queue."""
        size: int
        _, size, _ = self.queue.queue_declare(passive=True)
        return size

    def close(self) -> None:
        """Stop consuming (the connection and channel stay open)."""
        self.consumer.cancel()

    def _receive(self, message_data: Any, message: Any) -> None:
        self.buffer.append(message)

    def _consume(self) -> None:
        if not self._consuming:
            self.consumer.consume(no_ack=self.no_ack)
            self._consuming = True

    def __len__(self) -> int:
        return self.qsize()

    def __bool__(self) -> bool:
        return True


class SimpleQueue(SimpleBase):
    """A persistent queue named ``name`` (a :class:`~kombu.Queue` may be given instead).

    The queue is bound to a direct exchange of the same name with routing
    key ``name``. ``queue_opts``, ``queue_args`` and ``exchange_opts`` add
    to the class defaults; ``serializer``, ``compression`` apply to
    :meth:`put`, ``accept`` to :meth:`get`.
    """

    no_ack = False
    queue_opts: ClassVar[dict[str, Any]] = {}
    queue_args: ClassVar[dict[str, Any]] = {}
    exchange_opts: ClassVar[dict[str, Any]] = {"type": "direct"}

    def __init__(
        self,
        channel: Any,
        name: Any,
        no_ack: bool | None = None,
        queue_opts: dict[str, Any] | None = None,
        queue_args: dict[str, Any] | None = None,
        exchange_opts: dict[str, Any] | None = None,
        serializer: str | None = None,
        compression: str | None = None,
        accept: Any = None,
    ) -> None:
        from .entity import Exchange, Queue
        from .messaging import Consumer, Producer

        queue_opts = dict(self.queue_opts, **queue_opts or {})
        queue_args = dict(self.queue_args, **queue_args or {})
        exchange_opts = dict(self.exchange_opts, **exchange_opts or {})
        if no_ack is None:
            no_ack = self.no_ack
        if isinstance(name, Queue):
            queue = name
            exchange = queue.exchange
            routing_key = queue.routing_key
        else:
            exchange = Exchange(name, **exchange_opts)
            queue = Queue(name, exchange, name, queue_arguments=queue_args, **queue_opts)
            routing_key = name
        channel = _maybe_channel(channel)
        consumer = Consumer(channel, queue, accept=accept)
        producer = Producer(channel, exchange, serializer=serializer, routing_key=routing_key, compression=compression)
        super().__init__(channel, producer, consumer, no_ack)


class SimpleBuffer(SimpleQueue):
    """A transient queue: not durable, deleted when unused, messages not acknowledged."""

    no_ack = True
    queue_opts: ClassVar[dict[str, Any]] = {"durable": False, "auto_delete": True, "exclusive": True}
    exchange_opts: ClassVar[dict[str, Any]] = {"durable": False, "delivery_mode": "transient", "auto_delete": True}
