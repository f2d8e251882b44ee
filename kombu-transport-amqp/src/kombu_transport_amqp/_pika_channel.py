"""The ``pika://`` transport's channel: Kombu's channel interface on ``BlockingChannel``."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from time import monotonic
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions as pexc
from kombu.message import Message as BaseMessage
from kombu.transport import base

from . import common
from ._confirms import ConfirmWindow, PublishNacked, Refused, Unconfirmed
from ._pika_messages import (
    CACHE_MAX,
    ConsumerCancelled,
    EncodedProperties,
    FlowNotSupported,
    Message,
    MessageReturned,
    queue_declare_ok_t,
)

if TYPE_CHECKING:  # pragma: no cover
    from .pika import Connection

__all__ = ("Channel", "PikaPublishNacked")


class PikaPublishNacked(PublishNacked, pexc.NackError):  # type: ignore[misc]
    """:class:`pika.exceptions.NackError` naming the refused publishes (see :class:`.PublishNacked`).

    ``messages`` is what pika returned with the nack (usually empty).
    """

    def __init__(self, refused: Iterable[Refused], later: bool = False, *client_args: Any) -> None:
        super().__init__(refused, later, *(client_args or ([],)))


logger = logging.getLogger(__name__)

#: Seconds a full confirm window (or a close) waits when ``confirm_timeout`` is not set.
DEFAULT_CONFIRM_WAIT = 30.0


class Channel(base.StdChannel):
    """Kombu's channel interface on a pika ``BlockingChannel``."""

    Message = Message

    def __init__(self, connection: Connection, channel: Any) -> None:
        self.connection = connection
        self.blocking = channel
        self.channel_id: int = channel.channel_number
        self.events: defaultdict[str, set[Callable[..., Any]]] = defaultdict(set)
        self.no_ack_consumers: set[str] = set()
        self.callbacks: dict[str, Callable[[Any], Any]] = {}
        self.cancel_callbacks: dict[str, Callable[[str], Any]] = {}
        self._props: dict[Any, pika.BasicProperties] = {}
        self._qos: tuple[int, int, bool] | None = None
        self._confirm = False
        channel.add_on_cancel_callback(self._on_broker_cancel)
        channel.add_on_return_callback(self._on_return)
        if connection.confirm_publish:
            channel.confirm_delivery()
            self._confirm = True
        self._window_size = 0 if self._confirm else int(connection.confirm_window or 0)
        self._window = ConfirmWindow()
        self._window_on = False
        #: Delivery tag of the last publish with ``confirm_publish`` (pika does not tell).
        self._confirm_seq = 0

    @property
    def is_open(self) -> bool:
        """Whether the pika channel is open."""
        return bool(self.blocking.is_open)

    # -- messages --------------------------------------------------------
    def prepare_message(
        self,
        body: bytes | str,
        priority: int | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> tuple[bytes, pika.BasicProperties]:
        """``(body bytes, pika.BasicProperties)``; properties reused per shape."""
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        key: Any = None
        if not headers:
            try:
                key = (
                    content_type,
                    content_encoding,
                    priority,
                    headers is None,
                    tuple(properties.items()) if properties else (),
                )
                cached = self._props.get(key)
            except TypeError:
                key = cached = None
            if cached is not None:
                return body, cached
        all_props: dict[str, Any] = dict(properties or {})
        for name, value in (
            ("content_type", content_type),
            ("content_encoding", content_encoding),
            ("application_headers", headers),
            ("priority", priority),
        ):
            if value is not None:
                all_props[name] = value
        built = EncodedProperties(all_props)
        if key is not None:
            if len(self._props) >= CACHE_MAX:
                self._props.clear()
            self._props[key] = built
        return body, built

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> dict[str, Any]:
        """Kombu's queue options as RabbitMQ ``x-`` arguments."""
        return common.to_rabbitmq_queue_arguments(arguments, **kwargs)

    def message_to_python(self, raw_message: Any) -> BaseMessage:
        """Deliveries are already Kombu messages."""
        return raw_message  # type: ignore[no-any-return]

    # -- publishing ------------------------------------------------------
    def basic_publish(
        self,
        message: tuple[bytes, pika.BasicProperties],
        exchange: str = "",
        routing_key: str = "",
        mandatory: bool = False,
        immediate: bool = False,
        **kwargs: Any,
    ) -> None:
        """Publish; see :mod:`kombu_transport_amqp._confirms` for the default window.

        With ``confirm_publish`` each publish waits for its ack and raises
        :class:`PikaPublishNacked` (a ``pika.exceptions.NackError``) on a nack.
        In the default window a nack read meanwhile is raised (``later=True``)
        by the next publish of the channel, after that publish was sent, or
        by the next confirm wait.
        """
        if immediate:
            raise pexc.MethodNotImplemented("immediate is not supported by RabbitMQ")
        body, props = message
        window = self._window if self._window_size else None
        if window is not None:
            if not self._window_on:
                self._start_window()
            # recorded first: pika may read this publish's ack while sending it
            window.sent((message, exchange, routing_key, mandatory, immediate), len(body))
        elif self._confirm:
            self._confirm_seq += 1
        try:
            self.blocking.basic_publish(exchange, routing_key, body, props, mandatory)
        except pexc.NackError as exc:  # confirm_publish: this publish was refused
            refused: Refused = (self._confirm_seq, exchange, routing_key, message)
            raise PikaPublishNacked([refused], False, exc.messages) from None
        except pexc.UnroutableError as exc:
            handlers = self.events.get("basic_return")
            if not handlers:
                raise
            for returned in exc.messages:
                self._dispatch_return(returned.method, returned.properties, returned.body)
        except BaseException:
            if window is not None and window.entries and window.entries[-1][0] == window.seq:
                window.size -= window.entries.pop()[1]  # not sent: the caller retries it
                window.seq -= 1
            raise
        if window is not None and (
            len(window) >= self._window_size or window.size >= self.connection.confirm_window_bytes
        ):
            self.wait_for_confirms(len(window) // 2, self.connection.confirm_timeout)
        if window is not None and window.refused:
            raise PikaPublishNacked(window.take_refused(), True)

    # -- the confirm window (see kombu_transport_amqp._confirms) -------------------
    def _start_window(self) -> None:
        selected: list[Any] = []
        self.blocking._impl.confirm_delivery(  # noqa: SLF001 - asynchronous confirms
            ack_nack_callback=self._on_confirm, callback=selected.append
        )
        self._window.reset()
        deadline = monotonic() + DEFAULT_CONFIRM_WAIT
        while not selected:
            if monotonic() > deadline:
                raise pexc.AMQPConnectionError("Confirm.Select was not answered")
            self.connection.blocking.process_data_events(time_limit=0.05)
        self._window_on = True

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            self._window.refuse(method.delivery_tag, method.multiple)  # raised by the next publish or wait
        else:
            self._window.confirm(method.delivery_tag, method.multiple)

    def wait_for_confirms(self, low: int = 0, timeout: float | None = None) -> None:
        """Process I/O until at most ``low`` publishes of this channel are unconfirmed.

        Raises a connection error when RabbitMQ has not confirmed enough of
        them within ``timeout`` (default 30 s), :class:`PikaPublishNacked`
        when it refused any publish whose refusal was not raised yet.
        """
        window = self._window
        deadline = monotonic() + (timeout or DEFAULT_CONFIRM_WAIT)
        process = self.connection.blocking.process_data_events
        while len(window) > low:
            remaining = deadline - monotonic()
            if remaining <= 0 or not self.connection.blocking.is_open:
                raise pexc.AMQPConnectionError(f"{len(window)} publishes not confirmed by the broker in time")
            process(time_limit=min(remaining, 1.0))
        if window.refused:
            raise PikaPublishNacked(window.take_refused(), True)

    def take_unconfirmed(self) -> list[Unconfirmed]:
        """What this channel sent that RabbitMQ never confirmed (the window empties)."""
        return self._window.take()

    def _on_return(self, _channel: Any, method: Any, props: Any, body: bytes) -> None:
        self._dispatch_return(method, props, body)

    def _dispatch_return(self, method: Any, props: Any, body: bytes) -> None:
        self.connection.events += 1
        handlers = self.events.get("basic_return")
        error = MessageReturned(method.reply_code, method.reply_text)
        if not handlers:
            self.connection.pending_error = error
            return
        message = self.Message.from_pika(self, method, props, body)
        for handler in list(handlers):
            handler(error, method.exchange, method.routing_key, message)

    # -- consuming -------------------------------------------------------
    def basic_consume(
        self,
        queue: str = "",
        no_ack: bool = False,
        callback: Callable[[Any], Any] | None = None,
        consumer_tag: str | None = None,
        on_cancel: Any = None,
        arguments: dict[str, Any] | None = None,
        exclusive: bool = False,
        **kwargs: Any,
    ) -> str:
        """Start a consumer; ``callback(message)`` per delivery; returns the tag."""
        if self._qos is not None and self._qos[2] and self.connection.queue_types.needs_per_consumer_qos(queue):
            _size, count, _ = self._qos
            self.blocking.basic_qos(prefetch_size=0, prefetch_count=count, global_qos=False)
            self._qos = (0, count, False)
        from_pika = self.Message.from_pika
        conn = self.connection

        def on_message(_ch: Any, method: Any, props: Any, body: bytes) -> None:
            conn.events += 1
            message = from_pika(self, method, props, body, consumer_tag=method.consumer_tag)
            fun = self.callbacks.get(method.consumer_tag)
            if fun is None:
                self.basic_reject(method.delivery_tag, requeue=True)
                return
            try:
                fun(message)
            except BaseException:
                # The error propagates out of drain_events; pika has already
                # forgotten that this channel has more events queued, so ask
                # it to dispatch the rest on the next drain.
                request = getattr(conn.blocking, "_request_channel_dispatch", None)
                if request is not None:
                    request(self.channel_id)
                raise

        tag = self.blocking.basic_consume(
            queue,
            on_message,
            auto_ack=no_ack,
            exclusive=exclusive,
            consumer_tag=consumer_tag or None,
            arguments=arguments,
        )
        self.callbacks[tag] = callback or (lambda message: None)
        if on_cancel is not None:
            self.cancel_callbacks[tag] = on_cancel
        if no_ack:
            self.no_ack_consumers.add(tag)
        return str(tag)

    def _on_broker_cancel(self, method_frame: Any) -> None:
        tag = method_frame.method.consumer_tag
        self.connection.events += 1
        self.callbacks.pop(tag, None)
        self.no_ack_consumers.discard(tag)
        on_cancel = self.cancel_callbacks.pop(tag, None)
        if on_cancel is not None:
            on_cancel(tag)
        else:
            self.connection.pending_error = ConsumerCancelled(f"consumer {tag!r} cancelled by the broker")

    def basic_cancel(self, consumer_tag: str, nowait: bool = False) -> None:
        """Stop a consumer (messages already delivered stay with the caller)."""
        self.callbacks.pop(consumer_tag, None)
        self.cancel_callbacks.pop(consumer_tag, None)
        self.no_ack_consumers.discard(consumer_tag)
        if self.blocking.is_open:
            self.blocking.basic_cancel(consumer_tag)

    def basic_get(self, queue: str = "", no_ack: bool = False, **kwargs: Any) -> BaseMessage | None:
        """One message from ``queue`` or ``None``."""
        method, props, body = self.blocking.basic_get(queue, auto_ack=no_ack)
        if method is None:
            return None
        return self.Message.from_pika(self, method, props, body, message_count=method.message_count)

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        """Acknowledge a delivery.

        Inside ``drain_events`` (a consumer callback) the ack is queued on
        pika's output buffer and sent, with the others, before
        ``drain_events`` returns; elsewhere it is sent at once.
        """
        conn = self.connection
        if conn.dispatching:
            self.blocking._impl.basic_ack(delivery_tag=delivery_tag, multiple=multiple)  # noqa: SLF001
            conn.unflushed = True
        else:
            self.blocking.basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag: int, requeue: bool = False) -> None:
        """Reject a delivery (``requeue`` puts it back)."""
        self.blocking.basic_reject(delivery_tag, requeue)

    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        """Negative acknowledgement (RabbitMQ extension)."""
        self.blocking.basic_nack(delivery_tag, multiple, requeue)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0, a_global: bool = False) -> None:
        """Set the prefetch window."""
        self._qos = (prefetch_size, prefetch_count, bool(a_global))
        self.blocking.basic_qos(prefetch_size=prefetch_size, prefetch_count=prefetch_count, global_qos=bool(a_global))

    def basic_recover(self, requeue: bool = False) -> None:
        """Redeliver unacknowledged messages (RabbitMQ supports ``requeue=True``)."""
        self.blocking.basic_recover(requeue)

    def flow(self, active: bool) -> None:
        """Not supported: raises :class:`FlowNotSupported`."""
        raise FlowNotSupported("channel.flow is not supported by the pika transport")

    # -- declarations ------------------------------------------------------
    def exchange_declare(
        self,
        exchange: str = "",
        type: str = "direct",
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = True,
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        internal: bool = False,
        **kwargs: Any,
    ) -> None:
        """Declare an exchange (``nowait`` is ignored: pika waits)."""
        self.blocking.exchange_declare(
            exchange,
            exchange_type=type,
            passive=passive,
            durable=durable,
            auto_delete=auto_delete,
            internal=internal,
            arguments=arguments,
        )

    def exchange_delete(self, exchange: str = "", if_unused: bool = False, nowait: bool = False, **kwargs: Any) -> None:
        """Delete an exchange."""
        self.blocking.exchange_delete(exchange, if_unused=if_unused)

    def exchange_bind(
        self,
        destination: str = "",
        source: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Bind exchange ``destination`` to ``source``."""
        self.blocking.exchange_bind(destination, source, routing_key=routing_key, arguments=arguments)

    def exchange_unbind(
        self,
        destination: str = "",
        source: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Undo :meth:`exchange_bind`."""
        self.blocking.exchange_unbind(destination, source, routing_key=routing_key, arguments=arguments)

    def queue_declare(
        self,
        queue: str = "",
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = True,
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> queue_declare_ok_t:
        """Declare a queue; ``(queue, message_count, consumer_count)``."""
        frame = self.blocking.queue_declare(
            queue, passive=passive, durable=durable, exclusive=exclusive, auto_delete=auto_delete, arguments=arguments
        )
        ok = frame.method
        if not passive:
            self.connection.queue_types.record(ok.queue, arguments)
        return queue_declare_ok_t(ok.queue, ok.message_count, ok.consumer_count)

    def queue_bind(
        self,
        queue: str,
        exchange: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Bind ``queue`` to ``exchange``."""
        self.blocking.queue_bind(queue, exchange, routing_key=routing_key, arguments=arguments)

    def queue_unbind(
        self,
        queue: str,
        exchange: str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Undo :meth:`queue_bind`."""
        self.blocking.queue_unbind(queue, exchange, routing_key=routing_key, arguments=arguments)

    def queue_purge(self, queue: str = "", nowait: bool = False, **kwargs: Any) -> int:
        """Remove ready messages; returns how many."""
        return int(self.blocking.queue_purge(queue).method.message_count)

    def queue_delete(
        self, queue: str = "", if_unused: bool = False, if_empty: bool = False, nowait: bool = False, **kwargs: Any
    ) -> int:
        """Delete a queue; returns the number of messages it held."""
        self.connection.queue_types.forget(queue)
        frame = self.blocking.queue_delete(queue, if_unused=if_unused, if_empty=if_empty)
        return int(frame.method.message_count)

    def close(self) -> None:
        """Close the channel (no-op when already closed).

        Publishes still unconfirmed are waited for first; what a broken
        connection leaves unconfirmed goes to the connection's ``orphans``
        (re-sent after reconnecting); a channel the broker closed (a channel
        error) drops its window with a warning, as ``amqp://`` does.
        """
        conn = self.connection
        if self._window or self._window.refused:
            if self.blocking.is_open and conn.blocking.is_open:
                try:
                    self.wait_for_confirms(0, conn.confirm_timeout)
                except PublishNacked as exc:
                    logger.warning("channel %s closed: %s", self.channel_id, exc)
                except Exception:  # noqa: BLE001 - broken: what is left is kept below
                    pass
            if self._window:
                if conn.blocking.is_open:
                    logger.warning(
                        "channel %s closed with %d unconfirmed publishes", self.channel_id, len(self._window)
                    )
                    self._window.take()
                else:
                    conn.orphans.extend(self._window.take())
        conn.channels.pop(self.channel_id, None)
        self.callbacks.clear()
        if self.blocking.is_open:
            try:
                self.blocking.close()
            except (pexc.ChannelWrongStateError, pexc.ChannelClosed, pexc.ConnectionClosed, pexc.StreamLostError):
                pass
