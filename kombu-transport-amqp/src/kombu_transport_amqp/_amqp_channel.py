"""The py-amqp transport's message and channel classes (see :mod:`kombu_transport_amqp.pyamqp`)."""

from __future__ import annotations

import logging
from struct import Struct
from time import monotonic
from typing import TYPE_CHECKING, Any

import amqp
from amqp import spec
from amqp.exceptions import (
    ConnectionError as AmqpConnectionError,
)
from amqp.exceptions import (
    MessageNacked,
    RecoverableConnectionError,
    error_for_code,
)
from kombu.message import Message as BaseMessage
from kombu.transport import base

from . import common
from ._confirms import ConfirmWindow, PublishNacked, Unconfirmed
from ._frames import (
    PreparedMessage,
    ack_frame,
    content_header_parts,
    encode_properties,
    nack_frame,
    publish_method_frame,
    reject_frame,
)
from ._io import BrokerClosed

if TYPE_CHECKING:  # pragma: no cover
    from .pyamqp import Connection

__all__ = ("Message", "Channel", "PublishBatch", "AmqpPublishNacked")


class AmqpPublishNacked(PublishNacked, MessageNacked):  # type: ignore[misc]
    """:class:`amqp.exceptions.MessageNacked` naming the refused publishes (see :class:`.PublishNacked`)."""


logger = logging.getLogger(__name__)

#: Seconds a full confirm window (or a close) waits for RabbitMQ's confirms
#: when ``confirm_timeout`` is not set.
DEFAULT_CONFIRM_WAIT = 30.0

#: In windowed mode, how often ``basic_publish`` looks for a broker close.
CHECK_EVERY = 128
CHECK_AFTER = 0.05

_pack_q = Struct(">Q").pack
_pack_i = Struct(">I").pack
_CACHE_MAX = 512


def text_body(body: bytes, properties: dict[str, Any]) -> bytes | str:
    """``body`` as ``str`` when its ``content_encoding`` decodes it, else unchanged.

    This is what py-amqp's ``auto_decode`` hands Kombu 5, so ``message.body``
    of a text message is a ``str`` on amqp:// as there. A compressed body stays
    bytes (it is text only after decompression).
    """
    encoding = properties.get("content_encoding")
    if not encoding or encoding == "binary":
        return body
    headers = properties.get("application_headers")
    if headers and "compression" in headers:
        return body
    try:
        return body.decode(encoding)
    except (ValueError, LookupError, TypeError, AttributeError):  # UnicodeError is a ValueError
        return body


class Message(BaseMessage):
    """A message received over py-amqp.

    ``properties`` holds every AMQP property in py-amqp's names (headers
    under ``application_headers``); ``delivery_info`` holds
    ``consumer_tag`` (deliveries), ``delivery_tag``, ``redelivered``,
    ``exchange``, ``routing_key`` and ``message_count`` (``basic_get``).
    """

    @classmethod
    def from_amqp(cls, msg: amqp.Message, channel: Any) -> Message:
        """Wrap an ``amqp.Message`` (from ``basic_get`` or a return)."""
        props = msg.properties
        message = cls(
            body=msg.body,
            channel=channel,
            delivery_tag=msg.delivery_info.get("delivery_tag"),
            content_type=props.get("content_type"),
            content_encoding=props.get("content_encoding"),
            delivery_info=msg.delivery_info,
            properties=props,
            headers=props.get("application_headers") or {},
        )
        error = getattr(msg, "decode_error", None)
        if error is not None:
            message.errors = [(type(error), error, None), *(message.errors or ())]
        return message


class PublishBatch:
    """Publishes held in this process and written together (``Producer.batch``).

    Frames are encoded at :meth:`publish` and sent with one ``sendall`` by
    :meth:`flush`, which runs by itself every ``max_size`` publishes. Until
    then nothing has left the process: :meth:`discard` (the batch context
    ended with an exception) drops them, and a flush into a connection the
    broker closed raises the recoverable connection error, unsent.
    """

    def __init__(self, channel: Channel, max_size: int) -> None:
        self.channel = channel
        self.max_size = max(int(max_size), 1)
        self._frames: list[bytes] = []

    def publish(
        self,
        message: Any,
        exchange: str = "",
        routing_key: str = "",
        mandatory: bool = False,
        immediate: bool = False,
        **kwargs: Any,
    ) -> None:
        """Encode and hold one publish (flushing when ``max_size`` are held)."""
        frames = self._frames
        frames.append(self.channel._publish_frames(message, exchange, routing_key, mandatory, immediate))
        if len(frames) >= self.max_size:
            self.flush()

    def flush(self) -> None:
        """Write every held publish now."""
        frames = self._frames
        if not frames:
            return
        conn = self.channel.connection
        transport = None if conn is None else conn._transport
        if transport is None:
            raise RecoverableConnectionError("publish batch: connection closed")
        Channel._check_alive(transport)
        data = b"".join(frames)
        frames.clear()
        transport.write(data)

    def discard(self) -> None:
        """Drop what was not flushed yet (it was never sent)."""
        self._frames.clear()

    def close(self) -> None:
        """Nothing left to release (kept for the ``Producer.batch`` protocol)."""
        self._frames.clear()


class Channel(amqp.Channel, base.StdChannel):  # type: ignore[misc]
    """A py-amqp channel with Kombu's channel interface.

    Contracts beyond py-amqp's:

    * ``basic_publish`` takes what :meth:`prepare_message` returns (or an
      ``amqp.Message``) and writes its frames with one ``sendall`` (by
      default; see ``write_mode`` in :mod:`kombu_transport_amqp._io`).
      Before writing it looks (without blocking) whether the broker closed
      the connection or the socket ended, and raises the recoverable
      connection error instead of writing into a dead connection.
      With ``confirm_publish`` it waits for the broker's ack and raises
      :class:`AmqpPublishNacked` (an :class:`amqp.exceptions.MessageNacked`)
      on a nack. In the default window a nack read meanwhile is raised
      (``later=True``) by the next publish of the channel, after that
      publish was sent, or by the next confirm wait.
    * ``basic_ack``/``basic_reject``/``basic_nack`` made by consumer
      callbacks during ``drain_events`` are batched until it returns or
      would block.
    * ``basic_qos(..., a_global=True)`` followed by ``basic_consume`` of a
      quorum or stream queue declared on this connection switches the
      channel to the same prefetch per consumer, which those queues require.
    """

    Message = Message
    connection: Connection
    _confirm_selected: bool

    def __init__(
        self, connection: Connection, channel_id: int | None = None, auto_decode: bool = True, on_open: Any = None
    ) -> None:
        super().__init__(connection, channel_id, auto_decode, on_open)
        # py-amqp swaps basic_publish for basic_publish_confirm per instance;
        # this class handles confirms in its own basic_publish.
        self.__dict__.pop("basic_publish", None)
        self._confirm = bool(connection.confirm_publish)
        self._window_size = 0 if self._confirm else int(connection.confirm_window or 0)
        self._window = ConfirmWindow()
        self._unchecked = 0
        self._checked_at = 0.0
        #: Called by the fast frame handler for Basic.Ack (windowed mode only:
        #: per-publish waits read their ack through py-amqp's ``wait``).
        self.on_publisher_ack = self._window_ack if self._window_size else None
        self._method_frames: dict[tuple[Any, ...], bytes] = {}
        self._headers: dict[Any, tuple[bytes, bytes]] = {}
        self._qos: tuple[int, int, bool] | None = None
        self._frame_body_max = max(connection.frame_max - 8, 4096)

    # -- Kombu's channel interface -------------------------------------------
    def prepare_message(
        self,
        body: bytes | str,
        priority: int | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> PreparedMessage:
        """Bundle a message for :meth:`basic_publish` (no encoding yet)."""
        return PreparedMessage(body, priority, content_type, content_encoding, headers, properties)

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> dict[str, Any]:
        """Kombu's queue options as RabbitMQ ``x-`` arguments."""
        return common.to_rabbitmq_queue_arguments(arguments, **kwargs)

    def message_to_python(self, raw_message: Any) -> BaseMessage:
        """The Kombu message for a delivery (deliveries already are one)."""
        if isinstance(raw_message, BaseMessage):
            return raw_message
        return self.Message.from_amqp(raw_message, self)

    # -- publishing ----------------------------------------------------------
    def _encoded_header(self, message: PreparedMessage) -> tuple[bytes, bytes]:
        key = message.shape_key()
        if key is not None:
            try:
                return self._headers[key]
            except KeyError:
                pass
            except TypeError:  # an unhashable property value
                key = None
        parts = content_header_parts(self.channel_id, encode_properties(message.properties))
        if key is not None:
            if len(self._headers) >= _CACHE_MAX:
                self._headers.clear()
            self._headers[key] = parts
        return parts

    def basic_publish(
        self,
        message: PreparedMessage | amqp.Message,
        exchange: str = "",
        routing_key: str = "",
        mandatory: bool = False,
        immediate: bool = False,
        timeout: float | None = None,
        confirm_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Publish ``message``; see the class docstring for when it is sent."""
        conn = self.connection
        if conn is None or conn._transport is None:
            raise RecoverableConnectionError("basic_publish: connection closed")
        if not isinstance(message, PreparedMessage):
            message = PreparedMessage(message.body, extra=message.properties)
        data = self._publish_frames(message, exchange, routing_key, mandatory, immediate)
        transport = conn._transport
        windowed = self._window_size
        if not windowed:
            self._check_alive(transport)
        else:
            # Publishes go into the window, so a broker close seen a little
            # late costs only duplicates: look (and read the confirms that
            # came meanwhile) every CHECK_EVERY publishes or CHECK_AFTER s.
            now = monotonic()
            if self._unchecked <= 0 or now - self._checked_at > CHECK_AFTER:
                self._check_alive(transport)
                conn.take_confirms()
                self._unchecked = CHECK_EVERY
                self._checked_at = now
            else:
                self._unchecked -= 1
        if windowed and not self._confirm_selected:
            self._confirm_selected = True
            self._window.reset()
            self.confirm_select()
        if timeout is None:
            transport.write_later(data)
        else:
            # A write that times out leaves a partial frame: the connection
            # is unusable, so this is a (recoverable) connection error.
            try:
                with transport.having_timeout(timeout):
                    transport.write_later(data)
            except TimeoutError:
                transport.connected = False
                raise RecoverableConnectionError("basic_publish: timed out") from None
        if windowed:
            window = self._window
            window.sent((message, exchange, routing_key, mandatory, immediate), len(data))
            if len(window) >= windowed or window.size >= conn.confirm_window_bytes:
                self.wait_for_confirms(len(window) // 2, confirm_timeout or conn.confirm_timeout)
            if window.refused:
                raise AmqpPublishNacked(window.take_refused(), True)
        elif self._confirm:
            self._wait_confirm(confirm_timeout or conn.confirm_timeout or timeout, (exchange, routing_key, message))

    # -- the confirm window (see kombu_transport_amqp._confirms) -------------------
    def wait_for_confirms(self, low: int = 0, timeout: float | None = None) -> None:
        """Read until at most ``low`` publishes of this channel are unconfirmed.

        Raises a recoverable connection error when RabbitMQ has not
        confirmed enough of them within ``timeout`` (default 30 s): the
        connection is then treated as lost and the window re-sent. Raises
        :class:`AmqpPublishNacked` when RabbitMQ refused any publish whose
        refusal was not raised yet.
        """
        window = self._window
        conn = self.connection
        deadline = monotonic() + (timeout or DEFAULT_CONFIRM_WAIT)
        while len(window) > low:
            remaining = deadline - monotonic()
            if remaining <= 0 or conn is None or conn._transport is None:
                raise RecoverableConnectionError(f"{len(window)} publishes not confirmed by the broker in time")
            try:
                conn.drain_pending(timeout=remaining)  # every frame already read, too
            except TimeoutError:
                pass
        if window.refused:
            raise AmqpPublishNacked(window.take_refused(), True)

    def take_unconfirmed(self) -> list[Unconfirmed]:
        """What this channel sent that RabbitMQ never confirmed (the window empties)."""
        return self._window.take()

    def _window_ack(self, delivery_tag: int, multiple: bool) -> None:
        """A ``Basic.Ack`` for the window (the fast frame handler calls it directly)."""
        self._window.confirm(delivery_tag, multiple)
        if self.events.get("basic_ack"):
            super()._on_basic_ack(delivery_tag, multiple)

    def _on_basic_ack(self, delivery_tag: int, multiple: bool) -> None:
        if self._window_size:
            self._window.confirm(delivery_tag, multiple)
        super()._on_basic_ack(delivery_tag, multiple)

    def _on_basic_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._window.refuse(delivery_tag, multiple)  # raised by the next publish or confirm wait
        super()._on_basic_nack(delivery_tag, multiple)

    def _do_revive(self) -> None:
        # The broker closed this channel (a channel error): what it had not
        # confirmed was published before the error and may be its cause, so
        # it is not re-sent.
        if self._window:
            logger.warning(
                "channel %s closed by the broker with %d unconfirmed publishes", self.channel_id, len(self._window)
            )
            self._window.reset()
        super()._do_revive()

    @staticmethod
    def _check_alive(transport: Any) -> None:
        try:
            transport.check_alive()
        except BrokerClosed as exc:
            raise error_for_code(exc.reply_code, exc.reply_text, (60, 40), AmqpConnectionError) from None

    def _publish_frames(
        self, message: PreparedMessage | amqp.Message, exchange: str, routing_key: str, mandatory: bool, immediate: bool
    ) -> bytes:
        """The method, content-header and body frames of one publish."""
        if not isinstance(message, PreparedMessage):
            message = PreparedMessage(message.body, extra=message.properties)
        mkey = (exchange, routing_key, mandatory, immediate)
        method = self._method_frames.get(mkey)
        if method is None:
            if len(self._method_frames) >= _CACHE_MAX:
                self._method_frames.clear()
            method = self._method_frames[mkey] = publish_method_frame(
                self.channel_id, exchange, routing_key, mandatory, immediate
            )
        head, tail = self._encoded_header(message)
        body = message.body
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        elif not isinstance(body, bytes):
            if not isinstance(body, (bytearray, memoryview)):
                raise TypeError(f"message body must be bytes or str, not {type(body).__name__}")
            body = bytes(body)
        size = len(body)
        if self._confirm and not self._confirm_selected:
            self._confirm_selected = True
            self.confirm_select()
        limit = self._frame_body_max
        if size <= limit:
            return b"".join((method, head, _pack_q(size), tail, _pack_i(size), body, b"\xce"))
        parts = [method, head, _pack_q(size), tail, _pack_i(limit), body[:limit], b"\xce"]
        prefix = b"\x03" + tail[-2:]
        for start in range(limit, size, limit):
            chunk = body[start : start + limit]
            parts += (prefix, _pack_i(len(chunk)), chunk, b"\xce")
        return b"".join(parts)

    # -- Producer.batch ------------------------------------------------------
    @property
    def supports_batch_publish(self) -> bool:
        """Whether ``Producer.batch`` defers publishes here (not with publisher confirms)."""
        return not self._confirm

    def create_publish_batch(self, max_size: int = 1000) -> PublishBatch:
        """A batch for ``Producer.batch``: its publishes leave in one ``sendall``."""
        return PublishBatch(self, max_size)

    def _wait_confirm(self, timeout: float | None, published: tuple[str, str, Any]) -> None:
        def on_confirm(method: Any, delivery_tag: int = 0, *args: Any) -> None:  # per-publish waits (confirm_publish)
            if method == spec.Basic.Nack:
                raise AmqpPublishNacked([(delivery_tag, *published)])

        self.connection.flush()
        self.wait([spec.Basic.Ack, spec.Basic.Nack], callback=on_confirm, timeout=timeout)

    basic_publish_confirm = basic_publish

    # -- acknowledgements (buffered) ---------------------------------------
    def _write_later(self, frame: bytes, what: str) -> None:
        conn = self.connection
        if conn is None or conn._transport is None:
            raise RecoverableConnectionError(f"{what}: connection closed")
        conn._transport.write_later(frame, True)

    def basic_ack(self, delivery_tag: int, multiple: bool = False, argsig: str = "") -> None:
        """Acknowledge one delivery (or all up to it with ``multiple``)."""
        self._write_later(ack_frame(self.channel_id, delivery_tag, multiple), "basic_ack")

    def basic_reject(self, delivery_tag: int, requeue: bool = False, argsig: str = "") -> None:
        """Reject one delivery; ``requeue`` puts it back on its queue."""
        self._write_later(reject_frame(self.channel_id, delivery_tag, requeue), "basic_reject")

    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        """Negative acknowledgement (RabbitMQ extension); ``multiple`` and ``requeue``."""
        self._write_later(nack_frame(self.channel_id, delivery_tag, multiple, requeue), "basic_nack")

    # -- consuming -------------------------------------------------------
    def on_delivery(
        self, info: dict[str, Any], properties: dict[str, Any], body: bytes, error: Exception | None = None
    ) -> None:
        """Dispatch one ``Basic.Deliver`` (called by the connection's frame handler).

        ``error``: the properties could not be decoded; the message carries it
        in ``errors`` so that the consumer rejects it.
        """
        message = self.Message(
            body=body if error is not None else text_body(body, properties),
            channel=self,
            delivery_tag=info["delivery_tag"],
            content_type=properties.get("content_type"),
            content_encoding=properties.get("content_encoding"),
            delivery_info=info,
            properties=properties,
            headers=properties.get("application_headers") or {},
        )
        if error is not None:
            message.errors = [(type(error), error, None), *(message.errors or ())]
        callback = self.callbacks.get(info["consumer_tag"])
        if callback is None:
            # No consumer (cancelled meanwhile): give the message back.
            self.basic_reject(info["delivery_tag"], requeue=True)
            return
        callback(message)

    def basic_qos(
        self, prefetch_size: int = 0, prefetch_count: int = 0, a_global: bool = False, argsig: str = "lBb"
    ) -> Any:
        """Set the prefetch window (remembered for quorum/stream consumers)."""
        self._qos = (prefetch_size, prefetch_count, bool(a_global))
        return super().basic_qos(prefetch_size, prefetch_count, a_global)

    def basic_consume(
        self,
        queue: str = "",
        consumer_tag: str | None = "",
        no_local: bool = False,
        no_ack: bool = False,
        exclusive: bool = False,
        nowait: bool = False,
        callback: Any = None,
        arguments: dict[str, Any] | None = None,
        on_cancel: Any = None,
        **kwargs: Any,
    ) -> str:
        """Start a consumer; returns its tag.

        When the broker cancels it (queue deleted, ...), ``on_cancel(tag)``
        is called, or without ``on_cancel`` the next ``drain_events`` raises
        :class:`amqp.exceptions.ConsumerCancelled`, so the consumer is never
        silently dead.
        """
        if self._qos is not None and self._qos[2] and self.connection.queue_types.needs_per_consumer_qos(queue):
            size, count, _ = self._qos
            super().basic_qos(0, count, False)
            self._qos = (size, count, False)
        tag: str = super().basic_consume(
            queue=queue,
            consumer_tag=consumer_tag or "",
            no_local=no_local,
            no_ack=no_ack,
            exclusive=exclusive,
            nowait=nowait,
            callback=callback,
            arguments=arguments,
            on_cancel=on_cancel,
        )
        return tag

    def basic_get(self, queue: str = "", no_ack: bool = False, argsig: str = "Bsb") -> Any:
        """Fetch one message or ``None`` (``amqp.Message``; see ``message_to_python``)."""
        return super().basic_get(queue, no_ack)

    # -- declarations --------------------------------------------------------
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
    ) -> Any:
        """Declare a queue; returns ``(queue, message_count, consumer_count)``."""
        result = super().queue_declare(
            queue,
            passive=passive,
            durable=durable,
            exclusive=exclusive,
            auto_delete=auto_delete,
            nowait=nowait,
            arguments=arguments,
        )
        if not passive:
            name = result[0] if result else queue
            self.connection.queue_types.record(name, arguments)
        return result

    def queue_delete(
        self, queue: str = "", if_unused: bool = False, if_empty: bool = False, nowait: bool = False, **kwargs: Any
    ) -> Any:
        """Delete a queue; returns the number of messages it held."""
        self.connection.queue_types.forget(queue)
        return super().queue_delete(queue, if_unused=if_unused, if_empty=if_empty, nowait=nowait)

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """Close the channel (sending whatever the connection still buffers).

        Publishes still unconfirmed are waited for first; what a broken
        connection leaves unconfirmed goes to the connection's ``orphans``,
        which the transport re-sends after reconnecting.
        """
        conn = self.connection
        if conn is not None and conn._transport is not None:
            if self._window or self._window.refused:
                try:
                    self.wait_for_confirms(0, conn.confirm_timeout)
                except PublishNacked as exc:
                    logger.warning("channel %s closed: %s", self.channel_id, exc)
                except Exception:  # noqa: BLE001 - the connection broke: keep them
                    pass
            conn.flush()
        if conn is not None and self._window:
            conn.orphans.extend(self._window.take())
        return super().close(*args, **kwargs)
