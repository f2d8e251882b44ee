"""``amqp://``, ``pyamqp://`` and ``amqps://``: RabbitMQ through py-amqp.

The broker routes; each Kombu channel operation is the py-amqp channel
operation of the same name. What differs from a plain py-amqp connection is
the I/O of the hot paths (see :mod:`kombu_transport_amqp._io`,
:mod:`kombu_transport_amqp._frames` and :mod:`kombu_transport_amqp._inbound`):
publishes, acks and rejects are encoded directly and batched into one
``sendall``; deliveries are parsed straight into Kombu messages.

Transport options (``Connection(transport_options={...})``) are passed to
:class:`amqp.Connection` (``confirm_publish``, ``read_timeout``,
``write_timeout``, ``socket_settings``, ``frame_max``, ``channel_max``,
``client_properties``, ``on_blocked``/``on_unblocked``, ...) plus:

``confirm_timeout``
    Seconds to wait for a publisher confirm (``confirm_publish=True``);
    ``None`` waits forever.
``write_mode``
    ``"direct"`` (default: each publish is sent at once; acks made by
    consumer callbacks are batched until ``drain_events`` returns or would
    block), ``"cork"`` or ``"buffer"`` (publishes batched too); see
    :mod:`kombu_transport_amqp._io` for the guarantees of each.
``write_buffer_size``
    Bytes batched in user space before a ``sendall`` (default 65536).
"""

from __future__ import annotations

from typing import Any

import amqp
from amqp import spec
from amqp.exceptions import MessageNacked, RecoverableConnectionError
from kombu.message import Message as BaseMessage
from kombu.transport import base

from . import common
from ._frames import (
    PreparedMessage,
    ack_frame,
    content_header_parts,
    encode_properties,
    nack_frame,
    publish_method_frame,
    reject_frame,
)
from ._inbound import make_frame_handler
from ._io import DEFAULT_WRITE_BUFFER, BufferedSSLTransport, BufferedTCPTransport

__all__ = ("Message", "Channel", "Connection", "Transport", "SSLTransport")

_pack_q = __import__("struct").Struct(">Q").pack
_pack_i = __import__("struct").Struct(">I").pack
_CACHE_MAX = 512


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
        return cls(
            body=msg.body,
            channel=channel,
            delivery_tag=msg.delivery_info.get("delivery_tag"),
            content_type=props.get("content_type"),
            content_encoding=props.get("content_encoding"),
            delivery_info=msg.delivery_info,
            properties=props,
            headers=props.get("application_headers") or {},
        )


class Channel(amqp.Channel, base.StdChannel):  # type: ignore[misc]
    """A py-amqp channel with Kombu's channel interface.

    Contracts beyond py-amqp's:

    * ``basic_publish`` takes what :meth:`prepare_message` returns (or an
      ``amqp.Message``) and writes its frames with one ``sendall`` (by
      default; see ``write_mode`` in :mod:`kombu_transport_amqp._io`).
      With ``confirm_publish`` it waits for the broker's ack and raises
      :class:`amqp.exceptions.MessageNacked` on a nack.
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

    def __init__(self, connection: Connection, channel_id: int | None = None,
                 auto_decode: bool = True, on_open: Any = None) -> None:
        super().__init__(connection, channel_id, auto_decode, on_open)
        # py-amqp swaps basic_publish for basic_publish_confirm per instance;
        # this class handles confirms in its own basic_publish.
        self.__dict__.pop("basic_publish", None)
        self._confirm = bool(connection.confirm_publish)
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

    def basic_publish(  # type: ignore[override]
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
            body = bytes(body)
        size = len(body)
        if self._confirm and not self._confirm_selected:
            self._confirm_selected = True
            self.confirm_select()
        limit = self._frame_body_max
        if size <= limit:
            conn.write_later(
                b"".join((method, head, _pack_q(size), tail, _pack_i(size), body, b"\xce"))
            )
        else:
            parts = [method, head, _pack_q(size), tail, _pack_i(limit), body[:limit], b"\xce"]
            prefix = b"\x03" + tail[-2:]
            for start in range(limit, size, limit):
                chunk = body[start : start + limit]
                parts += (prefix, _pack_i(len(chunk)), chunk, b"\xce")
            conn.write_later(b"".join(parts))
        if self._confirm:
            self._wait_confirm(confirm_timeout or conn.confirm_timeout or timeout)

    def _wait_confirm(self, timeout: float | None) -> None:
        def on_confirm(method: Any, *args: Any) -> None:
            if method == spec.Basic.Nack:
                raise MessageNacked()

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
        self._write_later(
            nack_frame(self.channel_id, delivery_tag, multiple, requeue), "basic_nack"
        )

    # -- consuming -------------------------------------------------------
    def on_delivery(self, info: dict[str, Any], properties: dict[str, Any], body: bytes) -> None:
        """Dispatch one ``Basic.Deliver`` (called by the connection's frame handler)."""
        message = self.Message(
            body=body,
            channel=self,
            delivery_tag=info["delivery_tag"],
            content_type=properties.get("content_type"),
            content_encoding=properties.get("content_encoding"),
            delivery_info=info,
            properties=properties,
            headers=properties.get("application_headers") or {},
        )
        callback = self.callbacks.get(info["consumer_tag"])
        if callback is None:
            # No consumer (cancelled meanwhile): give the message back.
            self.basic_reject(info["delivery_tag"], requeue=True)
            return
        callback(message)

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,  # type: ignore[override]
                  a_global: bool = False, argsig: str = "lBb") -> Any:
        """Set the prefetch window (remembered for quorum/stream consumers)."""
        self._qos = (prefetch_size, prefetch_count, bool(a_global))
        return super().basic_qos(prefetch_size, prefetch_count, a_global)

    def basic_consume(  # type: ignore[override]
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
        if (
            self._qos is not None
            and self._qos[2]
            and self.connection.queue_types.needs_per_consumer_qos(queue)
        ):
            size, count, _ = self._qos
            super().basic_qos(0, count, False)
            self._qos = (size, count, False)
        return super().basic_consume(
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

    def basic_get(self, queue: str = "", no_ack: bool = False, argsig: str = "Bsb") -> Any:
        """Fetch one message or ``None`` (``amqp.Message``; see ``message_to_python``)."""
        return super().basic_get(queue, no_ack)

    # -- declarations --------------------------------------------------------
    def queue_declare(self, queue: str = "", passive: bool = False, durable: bool = False,  # type: ignore[override]
                      exclusive: bool = False, auto_delete: bool = True, nowait: bool = False,
                      arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Declare a queue; returns ``(queue, message_count, consumer_count)``."""
        result = super().queue_declare(
            queue, passive=passive, durable=durable, exclusive=exclusive,
            auto_delete=auto_delete, nowait=nowait, arguments=arguments,
        )
        if not passive:
            name = result[0] if result else queue
            self.connection.queue_types.record(name, arguments)
        return result

    def queue_delete(self, queue: str = "", if_unused: bool = False, if_empty: bool = False,  # type: ignore[override]
                     nowait: bool = False, **kwargs: Any) -> Any:
        """Delete a queue; returns the number of messages it held."""
        self.connection.queue_types.forget(queue)
        return super().queue_delete(queue, if_unused=if_unused, if_empty=if_empty, nowait=nowait)

    def close(self, *args: Any, **kwargs: Any) -> Any:
        """Close the channel (sending whatever the connection still buffers)."""
        conn = self.connection
        if conn is not None and conn._transport is not None:
            conn.flush()
        return super().close(*args, **kwargs)


class Connection(amqp.Connection):  # type: ignore[misc]
    """A py-amqp connection with batched writes and fast deliveries.

    Extra keyword arguments: ``write_mode`` and ``write_buffer_size`` (see
    :mod:`kombu_transport_amqp._io`) and ``confirm_timeout`` (seconds).
    """

    Channel = Channel

    def __init__(self, *args: Any, write_buffer_size: int = DEFAULT_WRITE_BUFFER,
                 write_mode: str | None = None, confirm_timeout: float | None = None,
                 **kwargs: Any) -> None:
        kwargs["frame_handler"] = make_frame_handler
        super().__init__(*args, **kwargs)
        self.write_buffer_size = int(write_buffer_size)
        self.write_mode = write_mode
        self.confirm_timeout = confirm_timeout
        self.queue_types = common.QueueTypes()

    def Transport(self, host: str, connect_timeout: float | None, ssl: Any = False,  # type: ignore[override]
                  read_timeout: float | None = None, write_timeout: float | None = None,
                  socket_settings: Any = None, **kwargs: Any) -> Any:
        """Create the buffered socket transport (TLS when ``ssl``)."""
        cls = BufferedSSLTransport if ssl else BufferedTCPTransport
        transport = cls(
            host, connect_timeout=connect_timeout, ssl=ssl, read_timeout=read_timeout,
            write_timeout=write_timeout, socket_settings=socket_settings,
            write_buffer_size=self.write_buffer_size, write_mode=self.write_mode, **kwargs,
        )
        transport.on_write = self._count_write
        return transport

    def _count_write(self) -> None:
        self.bytes_sent += 1

    def write_later(self, frame: bytes) -> None:
        """Buffer an asynchronous frame (see :mod:`kombu_transport_amqp._io`)."""
        self._transport.write_later(frame)

    def flush(self) -> None:
        """Send buffered frames now."""
        transport = self._transport
        if transport is not None:
            transport.flush()

    def blocking_read(self, timeout: float | None = None) -> Any:
        """Read and dispatch one frame; ``socket.timeout`` if none came in time."""
        transport = self._transport
        if transport is None:
            raise RecoverableConnectionError("connection already closed")
        if transport.has_buffered_frame():
            frame = transport.read_frame()
        else:
            transport.flush()
            with transport.having_timeout(timeout):
                frame = transport.read_frame()
        return self.on_inbound_frame(frame)

    def drain_events(self, timeout: float | None = None) -> None:
        """Wait for one complete method (``socket.timeout`` if none came in time).

        Writes made by the callbacks it runs are batched and sent before it
        returns (or before it would block).
        """
        transport = self._transport
        if transport is None:
            raise RecoverableConnectionError("connection already closed")
        transport.begin_dispatch()
        try:
            while not self.blocking_read(timeout):
                pass
        finally:
            transport.end_dispatch()

    def drain_pending(self, timeout: float | None = None) -> None:
        """:meth:`drain_events`, then dispatch every frame already received."""
        transport = self._transport
        if transport is None:
            raise RecoverableConnectionError("connection already closed")
        transport.begin_dispatch()
        try:
            while not self.blocking_read(timeout):
                pass
            read, handle = transport.read_buffered, self.on_inbound_frame
            frame = read()
            while frame is not None:
                handle(frame)
                if self._transport is not transport:
                    break
                frame = read()
        finally:
            transport.end_dispatch()

    def drain_buffered(self) -> None:
        """Dispatch every frame already received, without any I/O."""
        transport = self._transport
        while transport is not None:
            frame = transport.read_buffered()
            if frame is None:
                break
            self.on_inbound_frame(frame)
            transport = self._transport

    def on_tick(self) -> None:
        """Event-loop tick: dispatch frames already read, send what is held back.

        Frames can sit in the read buffer without the socket being readable
        (read together with a synchronous reply); the hub would not wake up
        for them, so each tick hands them out.
        """
        transport = self._transport
        if transport is None:
            return
        if transport.has_buffered_frame():
            transport.begin_dispatch()
            try:
                self.drain_buffered()
            finally:
                transport.end_dispatch()
        else:
            transport.flush()

    def heartbeat_tick(self, rate: int = 2) -> None:
        """Flush, then send/check heartbeats as py-amqp does."""
        self.flush()
        super().heartbeat_tick(rate=rate)

    def collect(self) -> None:
        """Drop the socket, buffers and channels (the connection is gone)."""
        transport = self._transport
        if transport is not None:
            transport.discard_writes()
        super().collect()



AmqpConnection = Connection
AmqpChannel = Channel

class Transport(base.Transport):  # type: ignore[misc]
    """Kombu transport on py-amqp; see the module docstring for options."""

    Connection = Connection
    default_port = common.DEFAULT_PORT
    default_ssl_port = common.DEFAULT_SSL_PORT
    connection_errors = amqp.Connection.connection_errors
    channel_errors = amqp.Connection.channel_errors
    recoverable_connection_errors = amqp.Connection.recoverable_connection_errors
    recoverable_channel_errors = amqp.Connection.recoverable_channel_errors
    driver_name = "py-amqp"
    driver_type = "amqp"
    supports_ev = True
    if hasattr(base.Transport, "implements"):
        implements = base.Transport.implements.extend(asynchronous=True, heartbeats=True)

    def __init__(self, client: Any, default_port: int | None = None,
                 default_ssl_port: int | None = None, **kwargs: Any) -> None:
        self.client = client
        self.default_port = default_port or self.default_port
        self.default_ssl_port = default_ssl_port or self.default_ssl_port
        scheme = str(getattr(client, "transport_cls", "") or "").lower()
        if scheme == "amqps" and not getattr(client, "ssl", None):
            client.ssl = True

    def driver_version(self) -> str:
        """py-amqp's version."""
        return str(amqp.__version__)

    @property
    def default_connection_params(self) -> dict[str, Any]:
        """What an URL without credentials/host/port means."""
        ssl = getattr(self.client, "ssl", False)
        return {
            "userid": "guest",
            "password": "guest",
            "port": self.default_ssl_port if ssl else self.default_port,
            "hostname": "localhost",
            "login_method": "PLAIN",
        }

    def _connection_options(self) -> dict[str, Any]:
        info: Any = self.client
        for name, default in self.default_connection_params.items():
            if not getattr(info, name, None):
                setattr(info, name, default)
        hostname = info.hostname
        if hostname == "localhost":
            hostname = "127.0.0.1"
        ssl = info.ssl
        if isinstance(ssl, dict) and "server_hostname" in ssl and ssl["server_hostname"] is None:
            ssl = dict(ssl, server_hostname=info.hostname)
        password = info.password
        if callable(password):
            password = password()
        options = common.coerce_options(info.transport_options or {})
        extra_props = options.pop("client_properties", None)
        options.setdefault(
            "client_properties",
            common.client_properties(self.driver_name, self.driver_version(), extra_props),
        )
        return dict(
            {
                "host": f"{hostname}:{info.port}",
                "userid": info.userid,
                "password": password,
                "login_method": info.login_method,
                "virtual_host": info.virtual_host or "/",
                "ssl": ssl,
                "connect_timeout": info.connect_timeout,
                "heartbeat": info.heartbeat or 0,
            },
            **options,
        )

    def establish_connection(self) -> AmqpConnection:
        """Connect and log in; raises one of ``connection_errors`` on failure."""
        conn = self.Connection(**self._connection_options())
        conn.client = self.client
        conn.connect()
        return conn

    def close_connection(self, connection: AmqpConnection) -> None:
        """Close cleanly (flushing buffered frames)."""
        connection.client = None
        connection.close()

    def create_channel(self, connection: AmqpConnection) -> AmqpChannel:
        """A new channel on ``connection``."""
        return connection.channel()

    def close_channel(self, channel: AmqpChannel) -> None:
        """Close ``channel``."""
        channel.close()

    def drain_events(self, connection: AmqpConnection, timeout: float | None = None, **kwargs: Any) -> Any:
        """Wait for one event (``socket.timeout`` if none), then handle all already received."""
        connection.drain_pending(timeout=timeout)

    def _collect(self, connection: AmqpConnection | None) -> None:
        if connection is not None:
            connection.collect()

    def verify_connection(self, connection: AmqpConnection) -> bool:
        """Whether the socket is still connected."""
        return bool(connection.connected)

    def get_heartbeat_interval(self, connection: AmqpConnection) -> float:
        """The heartbeat interval negotiated with the broker (0 = off)."""
        return connection.heartbeat or 0

    def heartbeat_check(self, connection: AmqpConnection, rate: int = 2) -> None:
        """Send due heartbeats; raise ``ConnectionForced`` when the broker went silent."""
        connection.heartbeat_tick(rate=rate)

    def qos_semantics_matches_spec(self, connection: AmqpConnection) -> bool:
        """See :func:`kombu_transport_amqp.common.qos_semantics_matches_spec`."""
        return common.qos_semantics_matches_spec(connection.server_properties)

    def register_with_event_loop(self, connection: AmqpConnection, loop: Any) -> None:
        """Read from the socket when the hub says it is readable.

        Every tick also dispatches frames already buffered and sends what is
        held back (:meth:`Connection.on_tick`).
        """
        connection.transport.raise_on_initial_eintr = True
        loop.add_reader(connection.sock, self.on_readable, connection, loop)
        on_tick = getattr(loop, "on_tick", None)
        if on_tick is not None:
            on_tick.add(connection.on_tick)

    def unregister_from_event_loop(self, connection: AmqpConnection, loop: Any) -> None:
        """Undo :meth:`register_with_event_loop`."""
        sock = connection.sock if connection.connected else None
        if sock is not None:
            loop.remove(sock)
        on_tick = getattr(loop, "on_tick", None)
        if on_tick is not None:
            on_tick.discard(connection.on_tick)

    def on_readable(self, connection: AmqpConnection, loop: Any) -> None:
        """Handle whatever the socket has, without blocking."""
        try:
            connection.drain_pending(timeout=0)
        except TimeoutError:
            pass
        finally:
            connection.flush()

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """``uri`` unchanged (the core masks the password)."""
        return uri


class SSLTransport(Transport):
    """``amqps://``: the same transport with TLS on (``ssl=True`` unless a dict)."""

    def __init__(self, client: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(client, *args, **kwargs)
        if not getattr(client, "ssl", None):
            client.ssl = True
