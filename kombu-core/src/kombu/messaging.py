"""Producer and Consumer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import count

from kombu.compression import compress
from kombu.entity import Exchange, Queue, maybe_delivery_mode
from kombu.exceptions import ChannelError, ContentDisallowed
from kombu.publish_batch import PublishBatch
from kombu.serialization import dumps, prepare_accept_content
from kombu.utils.functional import ChannelPromise, maybe_list
from kombu.utils.uuid import uuid

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("Exchange", "Queue", "Producer", "Consumer", "maybe_declare", "reject_undecodable")

#: Default ``max_size`` of :meth:`Producer.batch`.
DEFAULT_BATCH_SIZE = 1000


def _logger() -> Any:
    import logging  # only when something is logged: keeps `import kombu` cheap

    return logging.getLogger("kombu.messaging")


def reject_undecodable(message: Any, exc: BaseException, queue: str | None = None) -> None:
    """Dispose of a message that cannot be decoded: log it once, reject it without requeue.

    The log record (logger ``kombu.messaging``, level ERROR) names the queue
    (``queue``, or the one the consuming :class:`Consumer` noted), the
    delivery tag, content type and encoding, and the error. The reject sends
    the message to the queue's dead-letter exchange where the broker has
    one, and otherwise drops it: it is never redelivered to this consumer.
    A message already acknowledged, or received by a ``no_ack`` consumer,
    is only logged. Never raises for the reject itself failing on a closed
    channel (the broker then redelivers the message, which is logged again).
    """
    if queue is None:
        queue = getattr(message, "_kombu_queue", None)
    _logger().error(
        "Rejected a message that cannot be decoded (queue %r, delivery tag %r, content type %r, encoding %r): %r",
        queue,
        getattr(message, "delivery_tag", None),
        getattr(message, "content_type", None),
        getattr(message, "content_encoding", None),
        exc,
    )
    channel = getattr(message, "channel", None)
    if channel is None or message.acknowledged:
        return
    no_ack = getattr(channel, "no_ack_consumers", None)
    if no_ack and message.delivery_info.get("consumer_tag") in no_ack:
        message._state = "REJECTED"
        return
    try:
        message.reject(requeue=False)
    except Exception as error:  # noqa: BLE001 - a broken channel: the broker redelivers
        _logger().warning("Could not reject delivery tag %r: %r", message.delivery_tag, error)


def _is_connection(obj: Any) -> bool:
    return hasattr(obj, "default_channel") and hasattr(obj, "transport_options")


def maybe_declare(entity: Any, channel: Any = None, retry: bool = False, **retry_policy: Any) -> bool:
    """Declare ``entity`` unless this connection already declared it.

    The cache is the connection's ``declared_entities`` (cleared when it
    reconnects); entities that cannot be cached (auto-delete, expiring) are
    declared every time. With ``retry``, declaring is retried on connection
    errors per ``retry_policy``. Returns whether a declaration was sent.
    """
    orig = entity
    if channel is None:
        if not entity.is_bound:
            raise ChannelError(f"channel is None and entity {entity!r} not bound.")
        channel = entity.channel
    elif _is_connection(channel):
        channel = channel.default_channel
    if not entity.is_bound or entity.channel is not channel:
        entity = entity.bind(channel)
    transport = getattr(channel, "connection", None)
    client = getattr(transport, "client", None)
    declared = getattr(client, "declared_entities", None)
    ident = hash(entity) if entity.can_cache_declaration else None
    if declared is not None and ident is not None and ident in declared:
        return False
    if retry and client is not None:
        client.ensure(entity, entity.declare, **retry_policy)()
    else:
        entity.declare(channel=channel)
    if declared is not None and ident is not None:
        declared.add(ident)
    if orig is not entity and not orig.name:
        orig.name = entity.name
    return True


class Producer:
    """Publishes messages to an exchange.

    Arguments:
        channel: a channel, or a connection (its default channel is used,
            made on first publish).
        exchange: the default exchange (default: ``""``, routing by queue name).
        routing_key: the default routing key.
        serializer: the default serializer (default: json).
        auto_declare: declare the exchange before the first publish.
        compression: the default compression (e.g. ``"zlib"``).
        on_return: called with unroutable messages returned by the broker
            (``mandatory=True``; transports that support it).
    """

    exchange: Exchange
    routing_key = ""
    serializer: str | None = None
    compression: str | None = None
    auto_declare = True
    on_return: Callable[..., Any] | None = None
    __connection__ = None

    def __init__(
        self,
        channel: Any,
        exchange: Exchange | str | None = None,
        routing_key: str | None = None,
        serializer: str | None = None,
        auto_declare: bool | None = None,
        compression: str | None = None,
        on_return: Callable[..., Any] | None = None,
    ) -> None:
        self._channel = channel
        self.exchange = exchange  # type: ignore[assignment]
        self.routing_key = routing_key or self.routing_key
        self.serializer = serializer or self.serializer
        self.compression = compression or self.compression
        self.on_return = on_return or self.on_return
        self._channel_promise = None
        if self.exchange is None:
            self.exchange = Exchange("")
        elif isinstance(self.exchange, str):
            self.exchange = Exchange(self.exchange)
        if auto_declare is not None:
            self.auto_declare = auto_declare
        if self._channel:
            self.revive(self._channel)

    def __repr__(self) -> str:
        return f"<Producer: {self._channel}>"

    def __reduce__(self) -> Any:
        return self.__class__, self.__reduce_args__()

    def __reduce_args__(self) -> tuple[Any, ...]:
        return (None, self.exchange, self.routing_key, self.serializer, self.auto_declare, self.compression)

    def declare(self) -> None:
        """Declare the exchange (the default exchange is never declared)."""
        if self.exchange.name:
            self.exchange.declare()

    def maybe_declare(self, entity: Any, retry: bool = False, **retry_policy: Any) -> bool:
        """Declare ``entity`` unless already declared on this connection."""
        if entity:
            return maybe_declare(entity, self.channel, retry, **retry_policy)
        return False

    def _delivery_details(
        self,
        exchange: Any,
        delivery_mode: Any = None,
        maybe_delivery_mode: Any = maybe_delivery_mode,
        Exchange: type[Exchange] = Exchange,
    ) -> tuple[str, int]:
        if isinstance(exchange, Exchange):
            return exchange.name, maybe_delivery_mode(delivery_mode or exchange.delivery_mode)
        return exchange, maybe_delivery_mode(delivery_mode or self.exchange.delivery_mode)

    def publish(
        self,
        body: Any,
        routing_key: str | None = None,
        delivery_mode: Any = None,
        mandatory: bool = False,
        immediate: bool = False,
        priority: int = 0,
        content_type: str | None = None,
        content_encoding: str | None = None,
        serializer: str | None = None,
        headers: dict[str, Any] | None = None,
        compression: str | None = None,
        exchange: Exchange | str | None = None,
        retry: bool = False,
        retry_policy: dict[str, Any] | None = None,
        declare: Sequence[Any] | None = None,
        expiration: float | None = None,
        timeout: float | None = None,
        confirm_timeout: float | None = None,
        **properties: Any,
    ) -> Any:
        """Publish ``body``.

        ``body`` is serialized with ``serializer`` (default json); ``str`` and
        ``bytes`` pass through unless a serializer is named. ``declare`` lists
        entities to declare first (once per connection). ``retry`` retries on
        connection errors per ``retry_policy`` (``max_retries``,
        ``interval_start``, ``interval_step``, ``interval_max``).
        ``expiration`` is a TTL in seconds; other keyword arguments become
        message properties (``correlation_id``, ``reply_to``, ...).
        """
        headers = {} if headers is None else headers
        retry_policy = {} if retry_policy is None else retry_policy
        routing_key = self.routing_key if routing_key is None else routing_key
        compression = self.compression if compression is None else compression
        exchange_name, properties["delivery_mode"] = self._delivery_details(
            exchange if exchange is not None else self.exchange, delivery_mode
        )
        if expiration is not None:
            properties["expiration"] = str(int(expiration * 1000))
        body, content_type, content_encoding = self._prepare(
            body, serializer, content_type, content_encoding, compression, headers
        )
        if self.auto_declare and self.exchange.name:
            if declare is None:
                if not self._exchange_declared():
                    declare = [self.exchange]
            elif self.exchange not in declare:
                declare = [self.exchange, *declare]
        publish = self._publish
        if retry:
            publish = self.connection.ensure(self, publish, **retry_policy)
        return publish(
            body,
            priority,
            content_type,
            content_encoding,
            headers,
            properties,
            routing_key,
            mandatory,
            immediate,
            exchange_name,
            declare,
            timeout,
            confirm_timeout,
            retry,
            retry_policy,
        )

    def _publish(
        self,
        body: Any,
        priority: int,
        content_type: str | None,
        content_encoding: str | None,
        headers: dict[str, Any],
        properties: dict[str, Any],
        routing_key: str,
        mandatory: bool,
        immediate: bool,
        exchange: str,
        declare: Sequence[Any] | None,
        timeout: float | None = None,
        confirm_timeout: float | None = None,
        retry: bool = False,
        retry_policy: dict[str, Any] | None = None,
    ) -> Any:
        channel = self.channel
        message = channel.prepare_message(body, priority, content_type, content_encoding, headers, properties)
        if declare:
            for entity in declare:
                maybe_declare(entity, channel, retry, **(retry_policy or {}))
        reply_to = properties.get("reply_to")
        if isinstance(reply_to, Queue):
            properties["reply_to"] = reply_to.name
        if self._batch_local is not None:
            batch = getattr(self._batch_local, "current", None)
            if batch is not None:
                return batch.publish(
                    channel,
                    message,
                    exchange=exchange,
                    routing_key=routing_key,
                    mandatory=mandatory,
                    immediate=immediate,
                    timeout=timeout,
                    confirm_timeout=confirm_timeout,
                )
        if timeout is None and confirm_timeout is None:
            return channel.basic_publish(
                message, exchange=exchange, routing_key=routing_key, mandatory=mandatory, immediate=immediate
            )
        return channel.basic_publish(
            message,
            exchange=exchange,
            routing_key=routing_key,
            mandatory=mandatory,
            immediate=immediate,
            timeout=timeout,
            confirm_timeout=confirm_timeout,
        )

    def _exchange_declared(self) -> bool:
        """Whether the producer's exchange is in its connection's declared cache."""
        declared = self._declared
        if declared is None:
            client = self.connection
            declared = self._declared = getattr(client, "declared_entities", None)
            if declared is None:
                return False
            self._exchange_ident = hash(self.exchange) if self.exchange.can_cache_declaration else None
        return self._exchange_ident is not None and self._exchange_ident in declared

    _declared: set[Any] | None = None
    _exchange_ident: int | None = None
    _batch_local: Any = None

    @property
    def supports_batch_publish(self) -> bool:
        """Whether :meth:`batch` really defers publishes on this producer's transport.

        True when the transport's ``implements.batch_publish`` is true and
        the channel (or, before a channel exists, the transport) does not
        switch it off with ``supports_batch_publish = False``.
        """
        connection = self.connection
        if connection is None:
            return False
        try:
            transport = connection.transport
            declared = bool(transport.implements.batch_publish)
        except AttributeError:
            return False
        channel = self._channel
        holder = transport if channel is None or isinstance(channel, ChannelPromise) else channel
        return declared and bool(getattr(holder, "supports_batch_publish", declared))

    def batch(self, max_size: int = DEFAULT_BATCH_SIZE) -> PublishBatch:
        """Group this thread's :meth:`publish` calls into the transport's batches.

        ``with producer.batch(): producer.publish(...)``: see
        :class:`PublishBatch`. A transport without batches publishes each
        message at once, as outside the context. ``max_size`` (a positive
        int) is how many publishes the transport may hold before it flushes.
        """
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ValueError(f"max_size must be a positive integer, not {max_size!r}")
        return PublishBatch(self, max_size)

    def _get_channel(self) -> Any:
        channel = self._channel
        if isinstance(channel, ChannelPromise):
            channel = self._channel = channel()
            self.exchange.revive(channel)
            if self.on_return:
                channel.events["basic_return"].add(self.on_return)
        return channel

    def _set_channel(self, channel: Any) -> None:
        self._channel = channel

    channel = property(_get_channel, _set_channel)

    def revive(self, channel: Any) -> None:
        """Use ``channel`` (or a connection's default channel, made lazily) from now on."""
        self._declared = None
        if _is_connection(channel):
            connection = channel
            self.__connection__ = connection
            channel = ChannelPromise(lambda: connection.default_channel)
        if isinstance(channel, ChannelPromise):
            self._channel = channel
            self.exchange = self.exchange(channel)
        else:
            self._channel = channel
            if self.on_return:
                events = getattr(channel, "events", None)
                if events is not None:
                    events["basic_return"].add(self.on_return)
            self.exchange = self.exchange(channel)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()

    def release(self) -> None:
        """Return the producer to its pool (no-op when not pooled)."""

    close = release

    def _prepare(
        self,
        body: Any,
        serializer: str | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        compression: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> tuple[Any, str | None, str | None]:
        if not content_type:
            content_type, content_encoding, body = dumps(body, serializer or self.serializer)
        else:
            if not content_encoding:
                content_encoding = "binary" if isinstance(body, bytes) else "utf-8"
            if isinstance(body, str):
                body = body.encode(content_encoding if content_encoding != "binary" else "utf-8")
        if compression:
            body, (headers if headers is not None else {})["compression"] = compress(body, compression)
        return body, content_type, content_encoding

    @property
    def connection(self) -> Any:
        """The :class:`kombu.Connection` this producer publishes on."""
        try:
            return self.__connection__ or self.channel.connection.client
        except AttributeError:
            return None


class Consumer:
    """Receives messages from one or more queues.

    Arguments:
        channel: a channel, or a connection (its default channel is used).
        queues: a :class:`Queue` or a list of them.
        no_ack: consume without acknowledgements (the broker forgets each
            message as soon as it is sent).
        auto_declare: declare the queues (and their exchanges and bindings).
        callbacks: ``callback(body, message)`` functions called for each
            decoded message.
        on_message: ``on_message(message)`` called instead of decoding and
            the callbacks.
        on_decode_error: ``on_decode_error(message, exc)`` called for a
            message that cannot be decoded (corrupt body, bad UTF-8 in its
            properties, failed decompression) or whose content type is not
            accepted; it decides what happens to the message. Without it the
            message is rejected without requeue (to the queue's dead-letter
            exchange where there is one) and logged once with its queue and
            delivery tag (:func:`reject_undecodable`), then the error is
            raised from ``drain_events`` as in Kombu 5. Either way the next
            ``drain_events`` delivers the next message: a poison message
            never comes back to stop the consumer.
        accept: serializer names or content types to accept (default:
            everything but pickle, yaml and msgpack).
        prefetch_count: how many unacknowledged messages may be delivered.
        tag_prefix: prefix of generated consumer tags.
    """

    ContentDisallowed = ContentDisallowed

    channel: Any = None
    no_ack: bool | None = None
    auto_declare = True
    callbacks: list[Callable[[Any, Any], Any]]
    on_message: Callable[[Any], Any] | None = None
    on_decode_error: Callable[[Any, BaseException], Any] | None = None
    accept: set[str] | None = None
    prefetch_count: int | None = None
    tag_prefix: str | None = None

    def __init__(
        self,
        channel: Any,
        queues: Queue | Iterable[Queue] | None = None,
        no_ack: bool | None = None,
        auto_declare: bool | None = None,
        callbacks: Iterable[Callable[[Any, Any], Any]] | None = None,
        on_decode_error: Callable[[Any, BaseException], Any] | None = None,
        on_message: Callable[[Any], Any] | None = None,
        accept: Iterable[str] | None = None,
        prefetch_count: int | None = None,
        tag_prefix: str | None = None,
    ) -> None:
        self.channel = channel
        self.queues = maybe_list(queues) or []
        self.no_ack = self.no_ack if no_ack is None else no_ack
        self.callbacks = list(callbacks or [])
        if auto_declare is not None:
            self.auto_declare = auto_declare
        if on_decode_error is not None:
            self.on_decode_error = on_decode_error
        self.accept = prepare_accept_content(accept)
        self.on_message = on_message or self.on_message
        self.prefetch_count = prefetch_count
        self.tag_prefix = tag_prefix if tag_prefix is not None else uuid() + "-"
        self._active_tags: dict[str, str] = {}
        self._active_no_ack: dict[str, bool | None] = {}
        self._tags = count(1)
        if self.channel:
            self.revive(self.channel)

    @property
    def queues(self) -> list[Queue]:
        return list(self._queues.values())

    @queues.setter
    def queues(self, queues: list[Queue]) -> None:
        self._queues = {q.name: q for q in queues}

    def revive(self, channel: Any) -> None:
        """Use ``channel`` from now on (after reconnecting).

        Rebinds and (with ``auto_declare``) redeclares every queue, restores
        the prefetch count, and consumes again from exactly the queues that
        were being consumed from (with their ``no_ack``); queues only added
        with :meth:`add_queue` stay unconsumed.
        """
        was_consuming = [
            (queue, self._active_no_ack.get(name)) for name, queue in self._queues.items() if name in self._active_tags
        ]
        self._active_tags.clear()
        self._active_no_ack.clear()
        if _is_connection(channel):
            channel = channel.default_channel
        self.channel = channel
        revived = {id(q): q(channel) for q in self._queues.values()}
        self._queues = {q.name: q for q in revived.values()}
        if self.auto_declare:
            self.declare()
            # a server-named queue has its new name only now
            self._queues = {q.name: q for q in revived.values()}
        if self.prefetch_count is not None:
            self.qos(prefetch_count=self.prefetch_count)
        if was_consuming:
            *head, (tail, tail_no_ack) = [(revived[id(q)], no_ack) for q, no_ack in was_consuming]
            for queue, no_ack in head:
                self._basic_consume(queue, no_ack=no_ack, nowait=True)
            self._basic_consume(tail, no_ack=tail_no_ack, nowait=False)

    def declare(self) -> None:
        """Declare the queues, their exchanges and bindings."""
        for queue in self._queues.values():
            queue.declare()

    def register_callback(self, callback: Callable[[Any, Any], Any]) -> None:
        """Add ``callback(body, message)`` to the callbacks."""
        self.callbacks.append(callback)

    def __enter__(self) -> Consumer:
        self.consume()
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if self.channel and getattr(self.channel, "connection", None):
            try:
                conn_errors = self.channel.connection.client.connection_errors
            except AttributeError:
                conn_errors = ()
            if not isinstance(exc_val, conn_errors):
                try:
                    self.cancel()
                except Exception:  # noqa: BLE001 - the channel may be gone
                    pass

    def add_queue(self, queue: Queue) -> Queue:
        """Add ``queue`` (bound and, with auto_declare, declared); consume with :meth:`consume`."""
        queue = queue(self.channel)
        if self.auto_declare:
            queue.declare()
        self._queues[queue.name] = queue
        return queue

    def consume(self, no_ack: bool | None = None) -> None:
        """Start consuming from every queue not consumed yet."""
        queues = list(self._queues.values())
        if queues:
            no_ack = self.no_ack if no_ack is None else no_ack
            *head, tail = queues
            for queue in head:
                self._basic_consume(queue, no_ack=no_ack, nowait=True)
            self._basic_consume(tail, no_ack=no_ack, nowait=False)

    def cancel(self) -> None:
        """Stop consuming from every queue (the queues stay declared)."""
        cancel = self.channel.basic_cancel
        for tag in self._active_tags.values():
            cancel(tag)
        self._active_tags.clear()
        self._active_no_ack.clear()

    close = cancel

    def cancel_by_queue(self, queue: Queue | str) -> None:
        """Stop consuming from ``queue`` and forget it."""
        qname = queue.name if isinstance(queue, Queue) else queue
        self._active_no_ack.pop(qname, None)
        try:
            tag = self._active_tags.pop(qname)
        except KeyError:
            pass
        else:
            self.channel.basic_cancel(tag)
        finally:
            self._queues.pop(qname, None)

    def consuming_from(self, queue: Queue | str) -> bool:
        """Whether this consumer currently consumes from ``queue``."""
        name = queue.name if isinstance(queue, Queue) else queue
        return name in self._active_tags

    def purge(self) -> int:
        """Purge every queue; return how many messages were removed."""
        return sum(queue.purge() for queue in self._queues.values())

    def flow(self, active: bool) -> Any:
        return self.channel.flow(active)

    def qos(self, prefetch_size: int = 0, prefetch_count: int = 0, apply_global: bool = False) -> Any:
        """Limit unacknowledged deliveries (``prefetch_count``; 0 means no limit)."""
        return self.channel.basic_qos(prefetch_size, prefetch_count, apply_global)

    def recover(self, requeue: bool = False) -> Any:
        """Redeliver this channel's unacknowledged messages."""
        return self.channel.basic_recover(requeue=requeue)

    def receive(self, body: Any, message: Any) -> None:
        """Call every callback with ``(body, message)``."""
        callbacks = self.callbacks
        if not callbacks:
            raise NotImplementedError("Consumer does not have any callbacks")
        for callback in callbacks:
            callback(body, message)

    def _basic_consume(
        self, queue: Queue, consumer_tag: str | None = None, no_ack: bool | None = None, nowait: bool = True
    ) -> str:
        tag = self._active_tags.get(queue.name)
        if tag is None:
            tag = consumer_tag or f"{self.tag_prefix}{next(self._tags)}"
            self._active_tags[queue.name] = tag
            self._active_no_ack[queue.name] = no_ack
            queue.consume(tag, self._receive_callback, no_ack=no_ack, nowait=nowait)
        return tag

    def _receive_callback(self, message: Any) -> Any:
        accept = self.accept
        on_m, channel, decoded = self.on_message, self.channel, None
        m2p = getattr(channel, "message_to_python", None)
        if m2p:
            message = m2p(message)
        try:
            if accept is not None:
                message.accept = accept
            if message.errors:
                raise message.errors[0][1]
            decoded = None if on_m else message.decode()
        except Exception as exc:  # noqa: BLE001 - any decode failure makes a poison message
            self._on_undecodable(message, exc)
            return None
        return on_m(message) if on_m else self.receive(decoded, message)

    def _on_undecodable(self, message: Any, exc: Exception) -> None:
        try:
            message._kombu_queue = self._queue_of(message)
        except AttributeError:
            pass
        if self.on_decode_error:
            self.on_decode_error(message, exc)
            return
        reject_undecodable(message, exc)
        raise exc

    def _queue_of(self, message: Any) -> str | None:
        tag = getattr(message, "delivery_info", {}).get("consumer_tag")
        for name, active in self._active_tags.items():
            if active == tag:
                return name
        if len(self._queues) == 1:
            return next(iter(self._queues))
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.queues}>"

    @property
    def connection(self) -> Any:
        """The :class:`kombu.Connection` this consumer receives on."""
        try:
            return self.channel.connection.client
        except AttributeError:
            return None
