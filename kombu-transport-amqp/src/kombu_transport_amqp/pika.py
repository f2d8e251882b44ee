"""``pika://``: RabbitMQ through pika's ``BlockingConnection``.

Each Kombu channel operation maps to the ``BlockingChannel`` method of the
same meaning. Messages come out as :class:`Message` with the same
``properties``/``headers``/``delivery_info`` layout as the py-amqp transport
(py-amqp's property names, ``application_headers`` for headers), so code
does not care which of the two it runs on.

Transport options:

``confirm_publish``
    Enable publisher confirms: each publish waits for the broker's ack and
    raises :class:`pika.exceptions.NackError` on a nack.
``client_properties``
    Extra client properties (merged over the product name).
``blocked_connection_timeout``, ``socket_timeout``, ``stack_timeout``,
``frame_max``, ``channel_max``, ``tcp_options``, ``locale``
    Passed to :class:`pika.ConnectionParameters`.
``read_timeout`` / ``write_timeout``
    Accepted for symmetry with ``amqp://``; pika has one ``socket_timeout``,
    which ``read_timeout`` sets when ``socket_timeout`` is not given.

pika has no event-loop integration here (``supports_ev`` is false) and no
``flow`` control (RabbitMQ refuses ``channel.flow`` anyway).
"""

from __future__ import annotations

import socket
import ssl as _ssl
from collections import defaultdict, namedtuple
from collections.abc import Callable
from time import monotonic
from typing import Any

import pika
import pika.exceptions as pexc
from kombu.exceptions import ChannelError, ConnectionError
from kombu.message import Message as BaseMessage
from kombu.transport import base

from . import common
from ._frames import encode_properties
from ._table import decode_properties

__all__ = (
    "Message",
    "Channel",
    "Connection",
    "Transport",
    "ConsumerCancelled",
    "MessageReturned",
    "FlowNotSupported",
)

queue_declare_ok_t = namedtuple("queue_declare_ok_t", ("queue", "message_count", "consumer_count"))

_PROPERTY_NAMES = (
    "content_type",
    "content_encoding",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
)
_CACHE_MAX = 512


class ConsumerCancelled(ConnectionError):
    """The broker cancelled a consumer that had no ``on_cancel`` callback.

    Raised from ``drain_events`` (queue deleted, node down...), so the
    consumer is never silently dead; it is a connection error, so
    ``ConsumerMixin`` reconnects and re-declares.
    """


class MessageReturned(ChannelError):
    """A ``mandatory`` message could not be routed (passed to ``on_return``).

    Attributes ``reply_code`` and ``reply_text`` are the broker's.
    """

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(f"({reply_code}) {reply_text}")
        self.reply_code = reply_code
        self.reply_text = reply_text


class FlowNotSupported(ChannelError, NotImplementedError):
    """``channel.flow`` is not available on pika (nor honoured by RabbitMQ)."""


class EncodedProperties(pika.BasicProperties):  # type: ignore[misc]
    """Basic properties encoded once, by this package's encoder.

    pika cannot put floats in header tables and re-encodes properties on
    every publish; these are encoded as Kombu 5 on py-amqp encodes them
    (:func:`kombu_transport_amqp._frames.encode_properties`), once per
    message shape, and handed to pika's frame writer as is.
    """

    def __init__(self, properties: dict[str, Any]) -> None:
        headers = properties.get("application_headers")
        super().__init__(**{k: v for k, v in properties.items() if k in _PROPERTY_NAMES},
                         headers=headers)
        self._encoded = encode_properties(properties)

    def encode(self) -> list[bytes]:
        """The pre-encoded property flags and list."""
        return [self._encoded]


class DecodedProperties(pika.BasicProperties):  # type: ignore[misc]
    """Basic properties decoded by this package's decoder.

    pika's own decoder truncates ``float`` header values to integers; this
    one returns exactly what py-amqp returns. Installed as pika's class for
    Basic content headers when this module is imported (see
    :func:`install_decoder`); behaves as ``pika.BasicProperties`` otherwise.
    """

    _cache: dict[bytes, dict[str, Any]] = {}

    def decode(self, encoded: bytes, offset: int = 0) -> DecodedProperties:
        """Fill the attributes from the encoded property flags and list.

        The py-amqp-style dict is kept as ``kombu_properties``; decoded
        shapes without headers are cached by their bytes.
        """
        raw = bytes(encoded[offset:]) if offset else bytes(encoded)
        cached = self._cache.get(raw)
        if cached is not None:
            props = dict(cached)
            if "application_headers" in props:
                props["application_headers"] = {}
        else:
            props = decode_properties(raw, 0)
            if not props.get("application_headers"):
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[raw] = dict(props)
        self.kombu_properties = props
        for name, value in props.items():
            if name == "application_headers":
                self.headers = value
            else:
                setattr(self, name, value)
        return self


def install_decoder() -> None:
    """Make pika decode Basic properties with :class:`DecodedProperties`.

    Process-wide: pika looks the class up in ``pika.spec.props``. The only
    behaviour change for other pika users in the process is that float
    header values keep their fractional part.
    """
    import pika.spec

    if pika.spec.props.get(pika.spec.BasicProperties.INDEX) is pika.spec.BasicProperties:
        pika.spec.props[pika.spec.BasicProperties.INDEX] = DecodedProperties


install_decoder()


def properties_to_dict(props: pika.BasicProperties) -> dict[str, Any]:
    """pika properties as py-amqp's property dict (``None`` values left out)."""
    decoded = getattr(props, "kombu_properties", None)
    if decoded is not None:
        return decoded  # type: ignore[no-any-return]
    result: dict[str, Any] = {}
    for name in _PROPERTY_NAMES:
        value = getattr(props, name)
        if value is not None:
            result[name] = value
    if props.headers is not None:
        result["application_headers"] = props.headers
    return result


class Message(BaseMessage):
    """A message received over pika (same layout as the py-amqp transport's)."""

    @classmethod
    def from_pika(cls, channel: Channel, method: Any, props: pika.BasicProperties,
                  body: bytes, **info: Any) -> Message:
        """Build from a pika ``Deliver``/``GetOk``/``Return`` method, properties, body."""
        properties = properties_to_dict(props)
        delivery_info = {
            "delivery_tag": getattr(method, "delivery_tag", None),
            "redelivered": getattr(method, "redelivered", False),
            "exchange": method.exchange,
            "routing_key": method.routing_key,
            **info,
        }
        return cls(
            body=body,
            channel=channel,
            delivery_tag=delivery_info["delivery_tag"],
            content_type=properties.get("content_type"),
            content_encoding=properties.get("content_encoding"),
            delivery_info=delivery_info,
            properties=properties,
            headers=properties.get("application_headers") or {},
        )


class Connection:
    """A pika ``BlockingConnection`` plus what Kombu needs around it.

    Attributes:
        client: the ``kombu.Connection``.
        blocking: the pika connection.
        confirm_publish: channels enable publisher confirms.
        queue_types: quorum/stream queues declared here (see ``common.QueueTypes``).
        events: count of dispatched events; ``drain_events`` compares it.
        pending_error: an error a callback raised, re-raised by ``drain_events``.
    """

    def __init__(self, params: pika.ConnectionParameters, client: Any = None,
                 confirm_publish: bool = False) -> None:
        self.client = client
        self.confirm_publish = confirm_publish
        self.queue_types = common.QueueTypes()
        self.channels: dict[int, Channel] = {}
        self.events = 0
        self.pending_error: BaseException | None = None
        self.blocking = pika.BlockingConnection(params)
        self.server_properties: dict[str, Any] = dict(
            self.blocking._impl.server_properties or {}  # noqa: SLF001 - read only
        )
        self.heartbeat = self.blocking._impl.params.heartbeat or 0  # noqa: SLF001

    @property
    def connected(self) -> bool:
        """Whether the pika connection is open."""
        return bool(self.blocking.is_open)

    def channel(self) -> Channel:
        """Open a new channel."""
        channel = Channel(self, self.blocking.channel())
        self.channels[channel.channel_id] = channel
        return channel

    def raise_pending(self) -> None:
        """Re-raise an error recorded during event dispatch."""
        error, self.pending_error = self.pending_error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Close (ignoring a connection that is already gone)."""
        self.channels.clear()
        if self.blocking.is_open:
            try:
                self.blocking.close()
            except (pexc.AMQPError, OSError):
                pass


class Channel(base.StdChannel):  # type: ignore[misc]
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
                key = (content_type, content_encoding, priority, headers is None,
                       tuple(properties.items()) if properties else ())
                cached = self._props.get(key)
            except TypeError:
                key = cached = None
            if cached is not None:
                return body, cached
        all_props: dict[str, Any] = dict(properties or {})
        for name, value in (("content_type", content_type), ("content_encoding", content_encoding),
                            ("application_headers", headers), ("priority", priority)):
            if value is not None:
                all_props[name] = value
        built = EncodedProperties(all_props)
        if key is not None:
            if len(self._props) >= _CACHE_MAX:
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
    def basic_publish(self, message: tuple[bytes, pika.BasicProperties], exchange: str = "",
                      routing_key: str = "", mandatory: bool = False, immediate: bool = False,
                      **kwargs: Any) -> None:
        """Publish; with confirms, wait for the ack (``NackError`` on a nack)."""
        if immediate:
            raise pexc.MethodNotImplemented("immediate is not supported by RabbitMQ")
        body, props = message
        try:
            self.blocking.basic_publish(exchange, routing_key, body, props, mandatory)
        except pexc.UnroutableError as exc:
            handlers = self.events.get("basic_return")
            if not handlers:
                raise
            for returned in exc.messages:
                self._dispatch_return(returned.method, returned.properties, returned.body)

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
    def basic_consume(self, queue: str = "", no_ack: bool = False,
                      callback: Callable[[Any], Any] | None = None,
                      consumer_tag: str | None = None, on_cancel: Any = None,
                      arguments: dict[str, Any] | None = None, exclusive: bool = False,
                      **kwargs: Any) -> str:
        """Start a consumer; ``callback(message)`` per delivery; returns the tag."""
        if (self._qos is not None and self._qos[2]
                and self.connection.queue_types.needs_per_consumer_qos(queue)):
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
            queue, on_message, auto_ack=no_ack, exclusive=exclusive,
            consumer_tag=consumer_tag or None, arguments=arguments,
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
            self.connection.pending_error = ConsumerCancelled(
                f"consumer {tag!r} cancelled by the broker"
            )

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
        return self.Message.from_pika(self, method, props, body,
                                      message_count=method.message_count)

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        """Acknowledge a delivery."""
        self.blocking.basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag: int, requeue: bool = False) -> None:
        """Reject a delivery (``requeue`` puts it back)."""
        self.blocking.basic_reject(delivery_tag, requeue)

    def basic_nack(self, delivery_tag: int, multiple: bool = False, requeue: bool = True) -> None:
        """Negative acknowledgement (RabbitMQ extension)."""
        self.blocking.basic_nack(delivery_tag, multiple, requeue)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  a_global: bool = False) -> None:
        """Set the prefetch window."""
        self._qos = (prefetch_size, prefetch_count, bool(a_global))
        self.blocking.basic_qos(prefetch_size=prefetch_size, prefetch_count=prefetch_count,
                                global_qos=bool(a_global))

    def basic_recover(self, requeue: bool = False) -> None:
        """Redeliver unacknowledged messages (RabbitMQ supports ``requeue=True``)."""
        self.blocking.basic_recover(requeue)

    def flow(self, active: bool) -> None:
        """Not supported: raises :class:`FlowNotSupported`."""
        raise FlowNotSupported("channel.flow is not supported by the pika transport")

    # -- declarations ------------------------------------------------------
    def exchange_declare(self, exchange: str = "", type: str = "direct", passive: bool = False,
                         durable: bool = False, auto_delete: bool = True, nowait: bool = False,
                         arguments: dict[str, Any] | None = None, internal: bool = False,
                         **kwargs: Any) -> None:
        """Declare an exchange (``nowait`` is ignored: pika waits)."""
        self.blocking.exchange_declare(exchange, exchange_type=type, passive=passive,
                                       durable=durable, auto_delete=auto_delete,
                                       internal=internal, arguments=arguments)

    def exchange_delete(self, exchange: str = "", if_unused: bool = False,
                        nowait: bool = False, **kwargs: Any) -> None:
        """Delete an exchange."""
        self.blocking.exchange_delete(exchange, if_unused=if_unused)

    def exchange_bind(self, destination: str = "", source: str = "", routing_key: str = "",
                      nowait: bool = False, arguments: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        """Bind exchange ``destination`` to ``source``."""
        self.blocking.exchange_bind(destination, source, routing_key=routing_key,
                                    arguments=arguments)

    def exchange_unbind(self, destination: str = "", source: str = "", routing_key: str = "",
                        nowait: bool = False, arguments: dict[str, Any] | None = None,
                        **kwargs: Any) -> None:
        """Undo :meth:`exchange_bind`."""
        self.blocking.exchange_unbind(destination, source, routing_key=routing_key,
                                      arguments=arguments)

    def queue_declare(self, queue: str = "", passive: bool = False, durable: bool = False,
                      exclusive: bool = False, auto_delete: bool = True, nowait: bool = False,
                      arguments: dict[str, Any] | None = None,
                      **kwargs: Any) -> queue_declare_ok_t:
        """Declare a queue; ``(queue, message_count, consumer_count)``."""
        frame = self.blocking.queue_declare(queue, passive=passive, durable=durable,
                                            exclusive=exclusive, auto_delete=auto_delete,
                                            arguments=arguments)
        ok = frame.method
        if not passive:
            self.connection.queue_types.record(ok.queue, arguments)
        return queue_declare_ok_t(ok.queue, ok.message_count, ok.consumer_count)

    def queue_bind(self, queue: str, exchange: str = "", routing_key: str = "",
                   nowait: bool = False, arguments: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
        """Bind ``queue`` to ``exchange``."""
        self.blocking.queue_bind(queue, exchange, routing_key=routing_key, arguments=arguments)

    def queue_unbind(self, queue: str, exchange: str = "", routing_key: str = "",
                     nowait: bool = False, arguments: dict[str, Any] | None = None,
                     **kwargs: Any) -> None:
        """Undo :meth:`queue_bind`."""
        self.blocking.queue_unbind(queue, exchange, routing_key=routing_key, arguments=arguments)

    def queue_purge(self, queue: str = "", nowait: bool = False, **kwargs: Any) -> int:
        """Remove ready messages; returns how many."""
        return int(self.blocking.queue_purge(queue).method.message_count)

    def queue_delete(self, queue: str = "", if_unused: bool = False, if_empty: bool = False,
                     nowait: bool = False, **kwargs: Any) -> int:
        """Delete a queue; returns the number of messages it held."""
        self.connection.queue_types.forget(queue)
        frame = self.blocking.queue_delete(queue, if_unused=if_unused, if_empty=if_empty)
        return int(frame.method.message_count)

    def close(self) -> None:
        """Close the channel (no-op when already closed)."""
        self.connection.channels.pop(self.channel_id, None)
        self.callbacks.clear()
        if self.blocking.is_open:
            try:
                self.blocking.close()
            except (pexc.ChannelWrongStateError, pexc.ChannelClosed, pexc.ConnectionClosed,
                    pexc.StreamLostError):
                pass



PikaConnection = Connection
PikaChannel = Channel

class Transport(base.Transport):  # type: ignore[misc]
    """Kombu transport on pika's blocking connection."""

    Connection = Connection
    Channel = Channel
    default_port = common.DEFAULT_PORT
    default_ssl_port = common.DEFAULT_SSL_PORT
    connection_errors = (
        pexc.AMQPConnectionError,
        pexc.ConnectionWrongStateError,
        ConsumerCancelled,
        ConnectionError,
        socket.error,
        OSError,
    )
    channel_errors = (pexc.AMQPChannelError, pexc.ChannelError, ChannelError)
    recoverable_connection_errors = (
        pexc.AMQPConnectionError,
        pexc.ConnectionWrongStateError,
        ConsumerCancelled,
        socket.error,
        OSError,
    )
    recoverable_channel_errors = (pexc.ChannelWrongStateError,)
    driver_name = "pika"
    driver_type = "amqp"
    supports_ev = False
    if hasattr(base.Transport, "implements"):
        implements = base.Transport.implements.extend(asynchronous=False, heartbeats=True)

    def __init__(self, client: Any, default_port: int | None = None,
                 default_ssl_port: int | None = None, **kwargs: Any) -> None:
        self.client = client
        self.default_port = default_port or self.default_port
        self.default_ssl_port = default_ssl_port or self.default_ssl_port

    def driver_version(self) -> str:
        """pika's version."""
        return str(pika.__version__)

    def _parameters(self) -> tuple[pika.ConnectionParameters, dict[str, Any]]:
        info: Any = self.client
        options = common.coerce_options(info.transport_options or {})
        ssl = info.ssl
        port = info.port or (self.default_ssl_port if ssl else self.default_port)
        host = info.hostname or "127.0.0.1"
        if host == "localhost":
            host = "127.0.0.1"
        password = info.password if info.password is not None else "guest"
        if callable(password):
            password = password()
        params: dict[str, Any] = {
            "host": host,
            "port": int(port),
            "virtual_host": info.virtual_host or "/",
            "credentials": pika.PlainCredentials(info.userid or "guest", password),
            "connection_attempts": 1,
            "client_properties": common.client_properties(
                self.driver_name, self.driver_version(), options.pop("client_properties", None)
            ),
        }
        if info.heartbeat is not None:
            params["heartbeat"] = int(info.heartbeat)
        if info.connect_timeout is not None:
            params["socket_timeout"] = info.connect_timeout
            params["blocked_connection_timeout"] = None
        read_timeout = options.pop("read_timeout", None)
        options.pop("write_timeout", None)
        if read_timeout is not None:
            params.setdefault("socket_timeout", read_timeout)
        login_method = info.login_method
        if login_method and login_method.upper() == "EXTERNAL":
            params["credentials"] = pika.credentials.ExternalCredentials()
        if ssl:
            params["ssl_options"] = self._ssl_options(ssl, host)
        confirm = bool(options.pop("confirm_publish", False))
        options.pop("confirm_timeout", None)
        for name in ("blocked_connection_timeout", "socket_timeout", "stack_timeout",
                     "frame_max", "channel_max", "tcp_options", "locale", "retry_delay"):
            if name in options:
                params[name] = options.pop(name)
        return pika.ConnectionParameters(**params), {"confirm_publish": confirm}

    @staticmethod
    def _ssl_options(ssl: Any, host: str) -> pika.SSLOptions:
        if isinstance(ssl, _ssl.SSLContext):
            return pika.SSLOptions(ssl, host)
        opts = ssl if isinstance(ssl, dict) else {}
        context = _ssl.create_default_context(cafile=opts.get("ca_certs"))
        if opts.get("certfile"):
            context.load_cert_chain(opts["certfile"], opts.get("keyfile"))
        if opts.get("cert_reqs") == _ssl.CERT_NONE:
            context.check_hostname = False
            context.verify_mode = _ssl.CERT_NONE
        return pika.SSLOptions(context, opts.get("server_hostname") or host)

    def establish_connection(self) -> PikaConnection:
        """Connect and log in; raises one of ``connection_errors`` on failure."""
        params, extra = self._parameters()
        return self.Connection(params, client=self.client, **extra)

    def close_connection(self, connection: PikaConnection) -> None:
        """Close ``connection``."""
        connection.client = None
        connection.close()

    def create_channel(self, connection: PikaConnection) -> PikaChannel:
        """A new channel on ``connection``."""
        return connection.channel()

    def close_channel(self, channel: PikaChannel) -> None:
        """Close ``channel``."""
        channel.close()

    def drain_events(self, connection: PikaConnection, timeout: float | None = None,
                     **kwargs: Any) -> None:
        """Dispatch events; ``socket.timeout`` when none came within ``timeout``."""
        connection.raise_pending()
        before = connection.events
        process = connection.blocking.process_data_events
        if timeout is None:
            while connection.events == before:
                process(time_limit=None)
                connection.raise_pending()
            return
        # pika may return early without dispatching anything (an internal
        # event): keep going until something came or the time is up.
        deadline = monotonic() + timeout
        while True:
            process(time_limit=max(deadline - monotonic(), 0))
            connection.raise_pending()
            if connection.events != before:
                return
            if monotonic() >= deadline:
                raise TimeoutError()

    def _collect(self, connection: PikaConnection | None) -> None:
        if connection is not None:
            connection.channels.clear()

    def verify_connection(self, connection: PikaConnection) -> bool:
        """Whether the connection is open."""
        return connection.connected

    def get_heartbeat_interval(self, connection: PikaConnection) -> float:
        """The negotiated heartbeat interval (0 = off)."""
        return connection.heartbeat

    def heartbeat_check(self, connection: PikaConnection, rate: int = 2) -> None:
        """Let pika send/check heartbeats (processes pending I/O without blocking)."""
        connection.blocking.process_data_events(time_limit=0)
        connection.raise_pending()

    def qos_semantics_matches_spec(self, connection: PikaConnection) -> bool:
        """See :func:`kombu_transport_amqp.common.qos_semantics_matches_spec`."""
        return common.qos_semantics_matches_spec(connection.server_properties)

    def register_with_event_loop(self, connection: PikaConnection, loop: Any) -> None:
        """Not supported by the blocking pika connection."""
        from kombu.exceptions import CapabilityNotSupported

        raise CapabilityNotSupported("pika:// has no event-loop integration; use amqp://")

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """``uri`` unchanged (the core masks the password)."""
        return uri
