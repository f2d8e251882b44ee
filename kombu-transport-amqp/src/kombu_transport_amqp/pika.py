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
``confirm_window`` (default 65536; 0 turns it off), ``confirm_window_bytes``, ``confirm_timeout``
    At-least-once publishing as on ``amqp://`` (see
    :mod:`kombu_transport_amqp._confirms`): confirms read asynchronously,
    unconfirmed publishes re-sent after reconnecting. On by default, as on
    ``amqp://``, although pika spends about 30 µs of CPU per confirm frame,
    which more than halves publish throughput: the guarantee comes first.
``client_properties``
    Extra client properties (merged over the product name).
``blocked_connection_timeout``, ``socket_timeout``, ``stack_timeout``,
``frame_max``, ``channel_max``, ``tcp_options``, ``locale``
    Passed to :class:`pika.ConnectionParameters`.
``read_timeout`` / ``write_timeout``
    Accepted for symmetry with ``amqp://``; pika has one ``socket_timeout``,
    which ``read_timeout`` sets when ``socket_timeout`` is not given.

The core's :class:`kombu.asynchronous.Hub` drives it through
``register_with_event_loop`` (the hub reads pika's socket and each tick
lets pika process what arrived and send what is queued). There is no
``flow`` control (RabbitMQ refuses ``channel.flow`` anyway).
"""

from __future__ import annotations

import socket
import ssl as _ssl
from time import monotonic
from typing import Any

import pika
import pika.exceptions as pexc
from kombu.exceptions import ChannelError, ConnectionError
from kombu.transport import base
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from . import common
from ._confirms import Unconfirmed, close_waiting, wait_for_all
from ._pika_channel import Channel
from ._pika_messages import (
    ConsumerCancelled,
    DecodedProperties,
    EncodedProperties,
    FlowNotSupported,
    Message,
    MessageReturned,
    install_decoder,
    properties_to_dict,
)

__all__ = (
    "Message",
    "Channel",
    "Connection",
    "Transport",
    "ConsumerCancelled",
    "MessageReturned",
    "FlowNotSupported",
    "EncodedProperties",
    "DecodedProperties",
    "install_decoder",
    "properties_to_dict",
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

    def __init__(
        self,
        params: pika.ConnectionParameters,
        client: Any = None,
        confirm_publish: bool = False,
        confirm_window: int = 65536,
        confirm_window_bytes: int = 16 << 20,
        confirm_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.confirm_publish = confirm_publish
        self.confirm_window = max(int(confirm_window or 0), 0)
        self.confirm_window_bytes = max(int(confirm_window_bytes), 1)
        self.confirm_timeout = confirm_timeout
        #: Unconfirmed publishes of channels closed while the connection broke.
        self.orphans: list[Unconfirmed] = []
        self.queue_types = common.QueueTypes()
        self.channels: dict[int, Channel] = {}
        self.events = 0
        self.pending_error: BaseException | None = None
        self.dispatching = False
        self.unflushed = False
        self.blocking = pika.BlockingConnection(params)
        self.server_properties: dict[str, Any] = dict(
            self.blocking._impl.server_properties or {}  # noqa: SLF001 - read only
        )
        self.heartbeat = self.blocking._impl.params.heartbeat or 0  # noqa: SLF001

    @property
    def connected(self) -> bool:
        """Whether the pika connection is open."""
        return bool(self.blocking.is_open)

    @property
    def sock(self) -> Any:
        """pika's socket (``None`` once closed), for an event loop to watch.

        pika does not expose it: it is read from pika's transport, the one
        place this package depends on pika's private layout for it.
        """
        transport = getattr(self.blocking._impl, "_transport", None)  # noqa: SLF001
        return getattr(transport, "_sock", None)

    def pump(self) -> None:
        """Let pika do its I/O without blocking: dispatch what arrived, send what is queued.

        Acks made by the callbacks it runs are sent together at the end;
        an error recorded during dispatch (a broker cancel) is raised.
        """
        outer = self.dispatching
        self.dispatching = True
        try:
            if self.blocking.is_open:
                self.blocking.process_data_events(time_limit=0)
            self.raise_pending()
        finally:
            self.dispatching = outer
            if self.unflushed:
                self.flush()

    def channel(self) -> Channel:
        """Open a new channel."""
        channel = Channel(self, self.blocking.channel())
        self.channels[channel.channel_id] = channel
        return channel

    def flush(self) -> None:
        """Send what pika still buffers (acks queued during dispatch)."""
        self.unflushed = False
        blocking = self.blocking
        if not blocking.is_open:
            return
        flush = getattr(blocking, "_flush_output", None)
        if flush is not None:
            flush()  # pika: process I/O until its output buffer is empty
        else:  # pragma: no cover - other pika versions
            blocking.process_data_events(time_limit=0)

    def raise_pending(self) -> None:
        """Re-raise an error recorded during event dispatch."""
        error, self.pending_error = self.pending_error, None
        if error is not None:
            raise error

    def take_unconfirmed(self) -> list[Unconfirmed]:
        """Every publish of this connection RabbitMQ has not confirmed (windows empty)."""
        taken, self.orphans = self.orphans, []
        for channel in list(self.channels.values()):
            taken += channel.take_unconfirmed()
        return taken

    def wait_for_confirms(self, timeout: float | None = None) -> None:
        """Wait until RabbitMQ confirmed every publish of every channel (bounded).

        Raises :class:`~kombu_transport_amqp._pika_channel.PikaPublishNacked`
        naming every refused publish not reported yet, after waiting for all.
        """
        wait_for_all(list(self.channels.values()), timeout)

    def close(self) -> None:
        """Close (ignoring a connection that is already gone)."""
        self.channels.clear()
        if self.blocking.is_open:
            try:
                self.blocking.close()
            except (pexc.AMQPError, OSError):
                pass


PikaConnection = Connection
PikaChannel = Channel


class Transport(base.Transport):
    """Kombu transport on pika's blocking connection."""

    Connection = Connection
    Channel = Channel
    default_port = common.DEFAULT_PORT
    default_ssl_port = common.DEFAULT_SSL_PORT
    connection_errors = (
        pexc.AMQPConnectionError,
        pexc.ConnectionWrongStateError,
        AMQPConnectorException,  # e.g. the handshake timed out (stack_timeout)
        ConsumerCancelled,
        ConnectionError,
        socket.error,
        OSError,
    )
    channel_errors = (pexc.AMQPChannelError, pexc.ChannelError, ChannelError)
    recoverable_connection_errors = (
        pexc.AMQPConnectionError,
        pexc.ConnectionWrongStateError,
        AMQPConnectorException,
        ConsumerCancelled,
        socket.error,
        OSError,
    )
    recoverable_channel_errors = (pexc.ChannelWrongStateError,)
    driver_name = "pika"
    driver_type = "amqp"
    supports_ev = True
    if hasattr(base.Transport, "implements"):
        implements = base.Transport.implements.extend(asynchronous=True, heartbeats=True)

    def __init__(
        self, client: Any, default_port: int | None = None, default_ssl_port: int | None = None, **kwargs: Any
    ) -> None:
        self.client = client
        self.default_port = default_port or self.default_port
        self.default_ssl_port = default_ssl_port or self.default_ssl_port
        #: Unconfirmed publishes to send again on the next connection.
        self._carry: list[Unconfirmed] = []

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
            # stack_timeout bounds TCP + TLS + AMQP handshake together
            # (pika's default is 15 s whatever connect_timeout says).
            params["socket_timeout"] = info.connect_timeout
            params["stack_timeout"] = info.connect_timeout
            params["blocked_connection_timeout"] = None
        read_timeout = options.pop("read_timeout", None)
        options.pop("write_timeout", None)
        if read_timeout is not None:
            params.setdefault("socket_timeout", read_timeout)
        login_method = (info.login_method or "PLAIN").upper()
        if login_method == "EXTERNAL":
            params["credentials"] = pika.credentials.ExternalCredentials()
        elif login_method != "PLAIN":
            from kombu.exceptions import CapabilityNotSupported

            raise CapabilityNotSupported(f"pika:// supports login_method PLAIN and EXTERNAL, not {info.login_method!r}")
        if ssl:
            params["ssl_options"] = self._ssl_options(ssl, host)
        extra: dict[str, Any] = {"confirm_publish": bool(options.pop("confirm_publish", False))}
        for name in ("confirm_timeout", "confirm_window", "confirm_window_bytes"):
            if options.get(name) is not None:
                extra[name] = options.pop(name)
        for name in (
            "blocked_connection_timeout",
            "socket_timeout",
            "stack_timeout",
            "frame_max",
            "channel_max",
            "tcp_options",
            "locale",
            "retry_delay",
        ):
            if name in options:
                params[name] = options.pop(name)
        return pika.ConnectionParameters(**params), extra

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
        """Connect and log in; raises one of ``connection_errors`` on failure.

        Publishes a previous connection left unconfirmed are sent again
        first, on a channel of their own, in their original order.
        """
        params, extra = self._parameters()
        conn = self.Connection(params, client=self.client, **extra)
        if self._carry:
            carry, self._carry = self._carry, []
            sent = 0
            try:
                channel = conn.channel()
                for message, exchange, routing_key, mandatory, immediate in carry:
                    channel.basic_publish(message, exchange, routing_key, mandatory, immediate)
                    sent += 1
            except BaseException:
                self._carry = conn.take_unconfirmed() + carry[sent:]
                conn.close()
                raise
        return conn

    def close_connection(self, connection: PikaConnection) -> None:
        """Close, after RabbitMQ confirmed every publish (bounded by ``confirm_timeout``).

        What it did not confirm (the connection broke meanwhile) is kept for
        :meth:`take_unconfirmed`.
        """
        connection.client = None
        if connection.connected:
            close_waiting(connection, "pika connection")
        self._carry += connection.take_unconfirmed()
        connection.close()

    def take_unconfirmed(self) -> list[Unconfirmed] | None:
        """Publishes sent but never confirmed, for the next transport (``Connection.collect``)."""
        carry, self._carry = self._carry, []
        return carry or None

    def adopt_unconfirmed(self, window: Any) -> None:
        """Take over another transport's unconfirmed publishes (sent on connect)."""
        self._carry += [entry for entry in window if isinstance(entry, tuple) and len(entry) == 5]

    def create_channel(self, connection: PikaConnection) -> PikaChannel:
        """A new channel on ``connection``."""
        return connection.channel()

    def close_channel(self, channel: PikaChannel) -> None:
        """Close ``channel``."""
        channel.close()

    def drain_events(self, connection: PikaConnection, timeout: float | None = None, **kwargs: Any) -> None:
        """Dispatch events; ``socket.timeout`` when none came within ``timeout``."""
        connection.raise_pending()
        outer = connection.dispatching
        connection.dispatching = True
        try:
            self._drain(connection, timeout)
        finally:
            connection.dispatching = outer
            if connection.unflushed:
                connection.flush()

    @staticmethod
    def _drain(connection: PikaConnection, timeout: float | None) -> None:
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
            self._carry += connection.take_unconfirmed()
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
        """Have ``loop`` (the core's ``Hub``) drive this connection.

        The hub reads the socket when it is readable and, on every tick,
        lets pika dispatch what it already holds and send what callbacks
        queued meanwhile (for example an ack scheduled with
        ``hub.call_soon`` from another thread). Everything runs in the
        hub's thread.
        """
        sock = connection.sock
        if sock is None:
            raise pexc.ConnectionWrongStateError("pika connection is closed")
        loop.add_reader(sock, self.on_readable, connection, loop)
        on_tick = getattr(loop, "on_tick", None)
        if on_tick is not None:
            on_tick.add(connection.pump)

    def unregister_from_event_loop(self, connection: PikaConnection, loop: Any) -> None:
        """Undo :meth:`register_with_event_loop`."""
        sock = connection.sock
        if sock is not None:
            loop.remove(sock)
        on_tick = getattr(loop, "on_tick", None)
        if on_tick is not None:
            on_tick.discard(connection.pump)

    def on_readable(self, connection: PikaConnection, loop: Any) -> None:
        """The socket has data: let pika read and dispatch it (never blocks)."""
        connection.pump()

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """``uri`` unchanged (the core masks the password)."""
        return uri
