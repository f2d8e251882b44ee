"""The carrot API: :class:`Publisher`, :class:`Consumer` and :class:`ConsumerSet`.

For programs written for carrot, Kombu's predecessor: queue, exchange and
routing key are given by name and declared for you::

    publisher = Publisher(conn, exchange="feed", routing_key="importer")
    publisher.send({"import_feed": "http://cnn.com/rss/edition.rss"})

    consumer = Consumer(conn, queue="feed", exchange="feed", routing_key="importer")
    message = consumer.fetch()  # or consumer.wait() with a registered callback
    message.ack()
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

from . import messaging
from .entity import Exchange, Queue

__all__ = ("Consumer", "ConsumerSet", "Publisher")


def entry_to_queue(queue: str, **options: Any) -> Queue:
    """Build a :class:`~kombu.Queue` from a carrot-style entry (``exchange``, ``routing_key``, ...)."""
    return Queue.from_dict(queue, **options)


def _iterconsume(
    connection: Any, consumer: Any, no_ack: bool | None = False, limit: int | None = None
) -> Iterator[Any]:
    consumer.consume(no_ack=no_ack)
    for iteration in count(0):
        if limit and iteration >= limit:
            break
        yield connection.drain_events()


class Publisher(messaging.Producer):
    """A carrot publisher: a producer whose exchange is given by name.

    The exchange (``exchange_type``, ``durable``, ``auto_delete``) is
    declared on creation. :meth:`send` is :meth:`publish`.
    """

    exchange: Any = ""
    exchange_type = "direct"
    routing_key = ""
    durable = True
    auto_delete = False
    _closed = False

    def __init__(
        self,
        connection: Any,
        exchange: Any = None,
        routing_key: str | None = None,
        exchange_type: str | None = None,
        durable: bool | None = None,
        auto_delete: bool | None = None,
        channel: Any = None,
        **kwargs: Any,
    ) -> None:
        if channel is None:
            channel = connection
        self.exchange = exchange or self.exchange
        self.exchange_type = exchange_type or self.exchange_type
        self.routing_key = routing_key or self.routing_key
        if auto_delete is not None:
            self.auto_delete = auto_delete
        if durable is not None:
            self.durable = durable
        if not isinstance(self.exchange, Exchange):
            self.exchange = Exchange(
                name=self.exchange,
                type=self.exchange_type,
                routing_key=self.routing_key,
                auto_delete=self.auto_delete,
                durable=self.durable,
            )
        super().__init__(channel, self.exchange, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        """Publish a message (same arguments as :meth:`publish`)."""
        return self.publish(*args, **kwargs)

    def close(self) -> None:
        """Close the publisher."""
        super().close()
        self._closed = True

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> Any:
        """The channel (carrot's name for it)."""
        return self.channel


class Consumer(messaging.Consumer):
    """A carrot consumer of one queue, given by name along with its exchange and routing key.

    It opens a channel of its own (:attr:`backend`), closed by :meth:`close`.
    :meth:`fetch` gets one message without consuming; :meth:`wait` and
    :meth:`iterconsume` consume and dispatch to registered callbacks.
    """

    queue: Any = ""
    exchange: Any = ""
    routing_key = ""
    exchange_type = "direct"
    durable = True
    exclusive = False
    auto_delete = False
    _closed = False

    def __init__(
        self,
        connection: Any,
        queue: str | None = None,
        exchange: str | None = None,
        routing_key: str | None = None,
        exchange_type: str | None = None,
        durable: bool | None = None,
        exclusive: bool | None = None,
        auto_delete: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.backend = connection.channel()
        if durable is not None:
            self.durable = durable
        if exclusive is not None:
            self.exclusive = exclusive
        if auto_delete is not None:
            self.auto_delete = auto_delete
        self.queue = queue or self.queue
        self.exchange = exchange or self.exchange
        self.exchange_type = exchange_type or self.exchange_type
        self.routing_key = routing_key or self.routing_key
        exchange_entity = Exchange(
            self.exchange,
            type=self.exchange_type,
            routing_key=self.routing_key,
            auto_delete=self.auto_delete,
            durable=self.durable,
        )
        queue_entity = Queue(
            self.queue,
            exchange=exchange_entity,
            routing_key=self.routing_key,
            durable=self.durable,
            exclusive=self.exclusive,
            auto_delete=self.auto_delete,
        )
        super().__init__(self.backend, queue_entity, **kwargs)

    def revive(self, channel: Any) -> None:
        """Move to a new channel (after a reconnect)."""
        self.backend = channel
        super().revive(channel)

    def close(self) -> None:
        """Stop consuming and close the consumer's channel."""
        self.cancel()
        self.backend.close()
        self._closed = True

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return self.iterqueue(infinite=True)

    def fetch(self, no_ack: bool | None = None, enable_callbacks: bool = False) -> Any:
        """Get one message from the queue without consuming, or ``None`` if it is empty.

        With ``enable_callbacks`` the registered callbacks get it too.
        """
        if no_ack is None:
            no_ack = self.no_ack
        message = self.queues[0].get(no_ack)
        if message and enable_callbacks:
            self.receive(message.payload, message)
        return message

    def process_next(self) -> Any:
        """Not supported: use ``fetch(enable_callbacks=True)``."""
        raise NotImplementedError("Use fetch(enable_callbacks=True)")

    def discard_all(self, filterfunc: Any = None) -> int:
        """Delete every message in the queue; return how many. Filters are not supported."""
        if filterfunc is not None:
            raise NotImplementedError("discard_all does not implement filters")
        return self.purge()

    def iterconsume(self, limit: int | None = None, no_ack: bool | None = None) -> Iterator[Any]:
        """Consume and yield after each round of events, ``limit`` times (``None``: forever)."""
        return _iterconsume(self.connection, self, no_ack, limit)

    def wait(self, limit: int | None = None) -> list[Any]:
        """Consume ``limit`` rounds of events (``None``: forever), dispatching to the callbacks."""
        return list(self.iterconsume(limit))

    def iterqueue(self, limit: int | None = None, infinite: bool = False) -> Iterator[Any]:
        """Yield messages fetched one by one until the queue is empty (or forever with ``infinite``)."""
        for fetched in count():
            if limit and fetched >= limit:
                break
            item = self.fetch()
            if not infinite and item is None:
                break
            yield item


class ConsumerSet(messaging.Consumer):
    """A carrot consumer of several queues, from other consumers or from a dict of queue options."""

    def __init__(
        self,
        connection: Any,
        from_dict: dict[str, dict[str, Any]] | None = None,
        consumers: list[Any] | None = None,
        channel: Any = None,
        **kwargs: Any,
    ) -> None:
        if channel:
            self._provided_channel = True
            self.backend = channel
        else:
            self._provided_channel = False
            self.backend = connection.channel()
        queues: list[Queue] = []
        for consumer in consumers or ():
            queues.extend(consumer.queues)
        for queue_name, queue_options in (from_dict or {}).items():
            queues.append(Queue.from_dict(queue_name, **queue_options))
        super().__init__(self.backend, queues, **kwargs)

    def iterconsume(self, limit: int | None = None, no_ack: bool = False) -> Iterator[Any]:
        """Consume and yield after each round of events, ``limit`` times (``None``: forever)."""
        return _iterconsume(self.connection, self, no_ack, limit)

    def discard_all(self) -> int:
        """Delete every message in every queue; return how many."""
        return self.purge()

    def add_consumer_from_dict(self, queue: str, **options: Any) -> Any:
        """Add a queue described carrot-style (``exchange``, ``routing_key``, ...)."""
        return self.add_queue(Queue.from_dict(queue, **options))

    def add_consumer(self, consumer: Any) -> None:
        """Add every queue of ``consumer``."""
        for queue in consumer.queues:
            self.add_queue(queue)

    def revive(self, channel: Any) -> None:
        """Move to a new channel (after a reconnect)."""
        self.backend = channel
        super().revive(channel)

    def close(self) -> None:
        """Stop consuming and close the channel, unless it was provided."""
        self.cancel()
        if not self._provided_channel:
            self.backend.close()
