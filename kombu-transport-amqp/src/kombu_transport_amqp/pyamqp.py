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

``confirm_window``
    At-least-once publishing (default 65536): channels turn publisher
    confirms on and keep up to this many unconfirmed publishes (and up to
    ``confirm_window_bytes``, default 16 MiB, of their frames); ``publish``
    waits only when the window is full, and what is unconfirmed when the
    connection is lost is sent again after reconnecting (see
    :mod:`kombu_transport_amqp._confirms`). ``0`` turns it off (Kombu 5's
    fire-and-forget publishing).
``confirm_publish``
    Wait for the broker's confirm of each publish before ``publish``
    returns (Kombu 5's option; the window is not used then).
``confirm_timeout``
    Seconds to wait for publisher confirms: per publish with
    ``confirm_publish``, for a full window (default 30) otherwise.
``write_mode``
    ``"direct"`` (default: each publish is sent at once; acks made by
    consumer callbacks are batched until ``drain_events`` returns or would
    block), ``"cork"`` or ``"buffer"`` (publishes batched too); see
    :mod:`kombu_transport_amqp._io` for the guarantees of each.
``write_buffer_size``
    Bytes batched in user space before a ``sendall`` (default 65536).
``client_fast_path``
    ``"auto"`` (default): the I/O above, which relies on py-amqp internals,
    only with a py-amqp version it is tested with; else py-amqp's own reads,
    frame handler and writes (``write_mode`` then has no effect). ``True`` or
    ``False`` force it; see :mod:`kombu_transport_amqp.client_path`.
"""

from __future__ import annotations

import logging
from ssl import SSLError
from time import monotonic
from typing import Any

import amqp
from amqp.exceptions import RecoverableConnectionError
from kombu.transport import base

from . import client_path, common
from ._amqp_channel import AmqpPublishNacked, Channel, Message
from ._confirms import Unconfirmed, close_waiting, wait_for_all
from ._inbound import make_frame_handler
from ._io import DEFAULT_WRITE_BUFFER, BufferedSSLTransport, BufferedTCPTransport
from ._plain_io import PlainSSLTransport, PlainTCPTransport

__all__ = ("Message", "Channel", "Connection", "Transport", "SSLTransport", "DEFAULT_CONFIRM_WINDOW")

logger = logging.getLogger(__name__)

#: Default ``confirm_window`` (unconfirmed publishes per channel) and
#: ``confirm_window_bytes`` (their frames' bytes).
DEFAULT_CONFIRM_WINDOW = 65536
DEFAULT_CONFIRM_WINDOW_BYTES = 16 << 20


class Connection(amqp.Connection):  # type: ignore[misc]
    """A py-amqp connection with batched writes and fast deliveries.

    Extra keyword arguments: ``write_mode`` and ``write_buffer_size`` (see
    :mod:`kombu_transport_amqp._io`) and ``confirm_timeout`` (seconds).
    """

    Channel = Channel

    def __init__(
        self,
        *args: Any,
        write_buffer_size: int = DEFAULT_WRITE_BUFFER,
        write_mode: str | None = None,
        confirm_timeout: float | None = None,
        confirm_window: int = DEFAULT_CONFIRM_WINDOW,
        confirm_window_bytes: int = DEFAULT_CONFIRM_WINDOW_BYTES,
        client_fast_path: bool | str | None = "auto",
        **kwargs: Any,
    ) -> None:
        #: Whether this connection runs on py-amqp internals (see :mod:`.client_path`).
        self.fast_path = client_path.use_fast_path(client_fast_path)
        if self.fast_path:
            kwargs["frame_handler"] = make_frame_handler
        super().__init__(*args, **kwargs)
        self.write_buffer_size = int(write_buffer_size)
        self.write_mode = write_mode
        self.confirm_timeout = confirm_timeout
        self.confirm_window = max(int(confirm_window or 0), 0)
        self.confirm_window_bytes = max(int(confirm_window_bytes), 1)
        #: Unconfirmed publishes of channels closed while the connection broke.
        self.orphans: list[Unconfirmed] = []
        self.queue_types = common.QueueTypes()

    def take_unconfirmed(self) -> list[Unconfirmed]:
        """Every publish of this connection RabbitMQ has not confirmed, oldest channel first.

        Confirms the broker sent before the connection broke, still in the
        socket or the read buffer, are applied first (fewer duplicates).
        """
        transport = self._transport
        if transport is not None and not transport.connected:
            self._apply_salvaged_confirms(transport.salvage_frames())
        taken, self.orphans = self.orphans, []
        for channel in list((self.channels or {}).values()):
            if isinstance(channel, Channel):
                taken += channel.take_unconfirmed()
        return taken

    def take_confirms(self) -> None:
        """Handle the publisher confirms at the head of what was received.

        Fast path: from the read buffer, no I/O. Public path: the confirms
        already in the socket, read by py-amqp (never blocks).

        Called after a publish's socket check read what had arrived, so a
        publishing-only connection keeps its window short without waiting.
        """
        transport = self._transport
        if transport is None:
            return
        if not self.fast_path:
            # py-amqp reads and dispatches exactly the confirms at the head.
            for _ in range(transport.acks_at_head()):
                super().blocking_read(0)
        elif transport.take_acks(self._apply_ack):
            self.bytes_recv += 1

    def _apply_ack(self, channel_id: int, tag: int, multiple: int, nack: int) -> None:
        channel = self.channels.get(channel_id) if self.channels else None
        if nack:
            if isinstance(channel, Channel):
                channel._on_basic_nack(tag, bool(multiple))
            return
        on_ack = getattr(channel, "on_publisher_ack", None)
        if on_ack is not None:
            on_ack(tag, bool(multiple))

    def _apply_salvaged_confirms(self, frames: list[tuple[int, int, bytes]]) -> None:
        channels = self.channels or {}
        for frame_type, channel_id, payload in frames:
            # Basic.Ack (60, 80) / Basic.Nack (60, 120): delivery tag, then flags
            if frame_type != 1 or payload[:3] != b"\x00\x3c\x00" or payload[3] not in (80, 120):
                continue
            channel = channels.get(channel_id)
            if isinstance(channel, Channel):
                tag, multiple = int.from_bytes(payload[4:12], "big"), bool(payload[12] & 1)
                if payload[3] == 120:  # nothing can raise it any more: logged
                    channel._window.refuse(tag, multiple)
                    refused = channel._window.take_refused()
                    if refused:
                        logger.warning("amqp connection lost: %s", AmqpPublishNacked(refused, True))
                else:
                    channel._window.confirm(tag, multiple)

    def wait_for_confirms(self, timeout: float | None = None) -> None:
        """Wait until RabbitMQ confirmed every publish of every channel (bounded).

        Raises :class:`~kombu_transport_amqp._amqp_channel.AmqpPublishNacked`
        naming every refused publish not reported yet, after waiting for all.
        """
        wait_for_all([ch for ch in (self.channels or {}).values() if isinstance(ch, Channel)], timeout)

    def connect(self, callback: Any = None) -> Any:
        """Open the socket and complete the AMQP handshake.

        ``connect_timeout`` bounds the whole of it (TCP connect, TLS and the
        AMQP handshake): a server that accepts the connection and never
        answers makes this raise ``socket.timeout`` after ``connect_timeout``
        seconds (py-amqp waits ``connect_timeout`` per frame).
        """
        timeout = self.connect_timeout
        if self.connected or not timeout:
            return super().connect(callback)
        deadline = monotonic() + timeout
        try:
            self.transport = self.Transport(
                self.host,
                timeout,
                self.ssl,
                self.read_timeout,
                self.write_timeout,
                socket_settings=self.socket_settings,
            )
            self.transport.connect()
            self.on_inbound_frame = self.frame_handler_cls(self, self.on_inbound_method)
            self.frame_writer = self.frame_writer_cls(self, self.transport)
            while not self._handshake_complete:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"AMQP handshake not complete after {timeout} s")
                self.drain_events(timeout=remaining)
        except (OSError, SSLError):
            self.collect()
            raise
        return callback() if callback else None

    def Transport(
        self,
        host: str,
        connect_timeout: float | None,
        ssl: Any = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        socket_settings: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Create the socket transport (TLS when ``ssl``): buffered on the fast path."""
        if self.fast_path:
            cls = BufferedSSLTransport if ssl else BufferedTCPTransport
        else:
            cls = PlainSSLTransport if ssl else PlainTCPTransport
        transport = cls(
            host,
            connect_timeout=connect_timeout,
            ssl=ssl,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            socket_settings=socket_settings,
            write_buffer_size=self.write_buffer_size,
            write_mode=self.write_mode,
            **kwargs,
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
        if not self.fast_path:
            return super().blocking_read(timeout)
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


class Transport(base.Transport):
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
        implements = base.Transport.implements.extend(asynchronous=True, heartbeats=True, batch_publish=True)

    def __init__(
        self, client: Any, default_port: int | None = None, default_ssl_port: int | None = None, **kwargs: Any
    ) -> None:
        self.client = client
        self.default_port = default_port or self.default_port
        self.default_ssl_port = default_ssl_port or self.default_ssl_port
        #: Unconfirmed publishes to send again on the next connection.
        self._carry: list[Unconfirmed] = []
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
        """Connect and log in; raises one of ``connection_errors`` on failure.

        Publishes a previous connection left unconfirmed (see
        :meth:`take_unconfirmed`) are sent again first, on a channel of
        their own, in their original order.
        """
        conn = self.Connection(**self._connection_options())
        conn.client = self.client
        conn.connect()
        if self._carry:
            self._resend(conn)
        return conn

    def _resend(self, conn: AmqpConnection) -> None:
        carry, self._carry = self._carry, []
        sent = 0
        try:
            channel = conn.channel()
            for message, exchange, routing_key, mandatory, immediate in carry:
                channel.basic_publish(message, exchange, routing_key, mandatory, immediate)
                sent += 1
        except BaseException:
            self._carry = conn.take_unconfirmed() + carry[sent:]
            conn.collect()
            raise

    def close_connection(self, connection: AmqpConnection) -> None:
        """Close cleanly, after RabbitMQ confirmed every publish (bounded by ``confirm_timeout``).

        What it did not confirm (the connection broke meanwhile) is kept for
        :meth:`take_unconfirmed`.
        """
        connection.client = None
        close_waiting(connection, "amqp connection")
        try:
            connection.close()
        finally:
            self._carry += connection.take_unconfirmed()

    def take_unconfirmed(self) -> list[Unconfirmed] | None:
        """Publishes sent but never confirmed, for the next transport (``Connection.collect``)."""
        carry, self._carry = self._carry, []
        return carry or None

    def adopt_unconfirmed(self, window: Any) -> None:
        """Take over another transport's unconfirmed publishes (sent on connect)."""
        self._carry += [entry for entry in window if isinstance(entry, tuple) and len(entry) == 5]

    def create_channel(self, connection: AmqpConnection) -> AmqpChannel:
        """A new channel on ``connection``."""
        channel: AmqpChannel = connection.channel()
        return channel

    def close_channel(self, channel: AmqpChannel) -> None:
        """Close ``channel``."""
        channel.close()

    def drain_events(self, connection: AmqpConnection, timeout: float | None = None, **kwargs: Any) -> Any:
        """Wait for one event (``socket.timeout`` if none), then handle all already received."""
        connection.drain_pending(timeout=timeout)

    def _collect(self, connection: AmqpConnection | None) -> None:
        if connection is not None:
            self._carry += connection.take_unconfirmed()
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
