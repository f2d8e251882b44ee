"""Connections to a broker: URL parsing, failover, channels; retrying is :mod:`kombu.retry`'s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import count, cycle

from kombu import retry
from kombu.abstract import maybe_channel

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("Connection", "BrokerConnection", "ConnectionPool", "ChannelPool", "maybe_channel")  # noqa: F822 - pools load lazily


def _logger() -> Any:
    import logging  # only when something is logged: keeps `import kombu` cheap

    return logging.getLogger(__name__)


def _env_flag(name: str) -> bool:
    """Kombu 5's debug switches: ``name`` or ``KOMBU_LOG_DEBUG`` set to a non-empty value."""
    import os

    return bool(os.environ.get(name) or os.environ.get("KOMBU_LOG_DEBUG"))


#: The transport of a Connection given no URL scheme (Kombu 5's default).
DEFAULT_TRANSPORT = "amqp"

#: A URL scheme names a transport; never an import path (``a.b://`` or ``a.b+amqp://``).
_SCHEME_PART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def check_url_scheme(url: str) -> None:
    """Raise ``ValueError`` when ``url``'s scheme is not made of plain transport names.

    ``Connection`` resolves a URL's scheme through the plugin registry only;
    a scheme that looks like a module path is refused before anything is
    imported (an alternate URL must never choose which module gets imported).
    """
    if not isinstance(url, str) or "://" not in url:
        return
    scheme = url.split("://", 1)[0]
    for part in scheme.split("+"):
        if not part or not part[0].isalpha() or not _SCHEME_PART.issuperset(part):
            from kombu.utils.url import maybe_sanitize_url

            raise ValueError(f"Invalid transport scheme {scheme!r} in URL {maybe_sanitize_url(url)!r}")


def check_port(port: Any) -> int:
    """Return ``port`` as an int in 0..65535; raise ``ValueError`` naming it otherwise."""
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"Port could not be cast to integer value as {port!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"Port out of range 0-65535: {value}")
    return value


def _split_bare_host(hostname: str, port: Any) -> tuple[str, Any]:
    """Validate a host given without a URL scheme; split a ``host:port`` form."""
    if "/" in hostname or "@" in hostname or any(c.isspace() for c in hostname):
        userinfo, at, rest = hostname.rpartition("@")
        shown = (userinfo.split(":", 1)[0] + ":**@" + rest) if at and ":" in userinfo else hostname
        raise ValueError(
            f"Malformed broker URL {shown!r}: a URL needs a scheme "
            f"(transport://host:port/...), a bare host name has no '/' or '@'"
        )
    host, sep, maybe_port = hostname.rpartition(":")
    if sep and "]" not in maybe_port and host.count(":") == 0:
        return host, port if port is not None else check_port(maybe_port)
    return hostname, port


#: Query options of a URL that set a Connection attribute; every other
#: option goes into ``transport_options``.
URL_CONNECTION_OPTIONS: dict[str, Callable[[str], Any]] = {
    "ssl": lambda v: v.lower() in ("1", "true", "yes", "on", "required") if isinstance(v, str) else bool(v),
    "heartbeat": float,
    "connect_timeout": float,
    "login_method": str,
    "insist": lambda v: v.lower() in ("1", "true", "yes"),
}


def _shuffle_cycle(items: list[str]) -> Iterator[str]:
    import random

    items = list(items)
    while True:
        random.shuffle(items)
        yield from items


failover_strategies: dict[str, Callable[[list[str]], Iterator[str]]] = {
    "round-robin": cycle,
    "shuffle": _shuffle_cycle,
}

#: Transport names that mean another transport (Kombu 5): ``info()`` reports
#: the name they resolve to.
resolve_aliases: dict[str, str] = {
    "pyamqp": "amqp",
    "librabbitmq": "amqp",
}


class Connection:
    """A connection to the broker.

    Arguments:
        hostname: a URL (``transport://userid:password@hostname:port/virtual_host``),
            several URLs separated by ``;`` (failover alternates), a list of
            URLs, or a plain host name (``host`` or ``host:port``). A scheme-less
            alternate inherits the first URL's transport, credentials, port and
            virtual host. A scheme that is not a plain name, a malformed port
            or a bare host with ``/`` or ``@`` in it raises ``ValueError``.
        userid, password, virtual_host, port: override the URL's.
        ssl: use TLS (``True`` or a dict of options for the transport).
        transport: the transport's scheme name or class, when the URL has
            no scheme. Without either it is ``amqp`` (Kombu 5's default): with no
            AMQP transport installed that is
            :class:`~kombu.exceptions.TransportNotInstalled` naming
            ``kombu-transport-amqp``. ``memory://`` is only ever chosen by name.
        connect_timeout: seconds to wait for the connection to open.
        transport_options: options for the transport; the URL's query
            options are added to them.
        heartbeat: seconds between heartbeats, where the transport has them.
        failover_strategy: ``"round-robin"``, ``"shuffle"`` or a callable
            taking the list of URLs and returning an iterator over them.
        alternates: more failover URLs (Kombu 5: they replace a single URL's
            own entry in :attr:`alt`, which is empty for a single URL).
        credential_provider: kept as :attr:`credential_provider` for
            transports that fetch credentials on connect (Kombu 5.6+).

    The connection opens lazily, on first use; :meth:`connect` opens it now.
    A URL whose scheme no installed transport claims raises
    :class:`~kombu.exceptions.TransportNotInstalled` here.
    """

    port: int | None = None
    virtual_host = "/"
    connect_timeout: float = 5
    uri_prefix: str | None = None
    declared_entities: set[Any]
    cycle: Iterator[str] | None = None
    _connection: Any = None
    _default_channel: Any = None
    _transport: Any = None
    _closed: bool | None = None
    #: The limited ConnectionPool this connection was acquired from, if any.
    _pool: Any = None
    _logger = False
    #: Failover strategy names (``failover_strategy=``) and their iterator factories.
    failover_strategies = failover_strategies
    #: Transport aliases, resolved by :meth:`info`.
    resolve_aliases = resolve_aliases

    def __init__(
        self,
        hostname: str | list[str] | tuple[str, ...] = "localhost",
        userid: str | None = None,
        password: str | None = None,
        virtual_host: str | None = None,
        port: int | None = None,
        insist: bool = False,
        ssl: Any = False,
        transport: Any = None,
        connect_timeout: float = 5,
        transport_options: dict[str, Any] | None = None,
        login_method: str | None = None,
        uri_prefix: str | None = None,
        heartbeat: float | None = 0,
        failover_strategy: str | Callable[[list[str]], Iterator[str]] | None = "round-robin",
        alternates: Iterable[str] | None = None,
        credential_provider: Any = None,
        **kwargs: Any,
    ) -> None:
        alt = list(alternates or [])
        if isinstance(hostname, (list, tuple)):
            alt.extend(hostname)
            hostname = alt[0] if alt else "localhost"
        if hostname and ";" in hostname:
            # "a;b" (also as the first of a list) comes first, then the rest (Kombu 5).
            parts = [h.strip() for h in hostname.split(";") if h.strip()]
            alt = parts + [h for h in alt if h != hostname]
            hostname = parts[0] if parts else "localhost"
        for url in (hostname, *alt):
            check_url_scheme(url)
        self.alt = alt
        self.credential_provider = credential_provider
        if failover_strategy is None:
            failover_strategy = "round-robin"
        #: The strategy as given (a name or a callable), reported by :meth:`info`.
        self._failover_strategy = failover_strategy
        self.failover_strategy = (
            self.failover_strategies.get(failover_strategy, failover_strategy)
            if isinstance(failover_strategy, str)
            else failover_strategy
        )
        if self.alt:
            self.cycle = self.failover_strategy(self.alt)  # type: ignore[operator]
            next(self.cycle)  # the first alternate is the current one
        self.transport_options = dict(transport_options or {})
        params = dict(
            hostname=hostname,
            userid=userid,
            password=password,
            virtual_host=virtual_host,
            port=port,
            insist=insist,
            ssl=ssl,
            transport=transport,
            connect_timeout=connect_timeout,
            login_method=login_method,
            heartbeat=heartbeat,
            uri_prefix=uri_prefix,
        )
        self._init_params(**params)
        #: What a scheme-less failover alternate inherits (Kombu 5: all but the host).
        self._initial_params = dict(
            params,
            hostname=self.hostname,
            userid=self.userid,
            password=self.password,
            virtual_host=self.virtual_host,
            port=self.port,
            transport=self.transport_cls,
            uri_prefix=self.uri_prefix,
        )
        self.declared_entities = set()
        self._connection_ids = count(1)

    # -- parameters ------------------------------------------------------------------

    def _init_params(
        self,
        hostname: str,
        userid: str | None,
        password: str | None,
        virtual_host: str | None,
        port: int | None,
        insist: bool,
        ssl: Any,
        transport: Any,
        connect_timeout: float,
        login_method: str | None,
        heartbeat: float,
        uri_prefix: str | None = None,
    ) -> None:
        query: dict[str, Any] = {}
        if hostname and "://" in hostname:
            scheme = hostname.split("://", 1)[0]
            if "+" in scheme and not self._claims(scheme):
                # Kombu's "prefix+url" form, e.g. "sqla+postgresql://...".
                uri_prefix, hostname = hostname.split("+", 1)
                transport = transport or uri_prefix
                if self._claims(uri_prefix):
                    scheme = uri_prefix
            from kombu.utils.url import url_to_parts

            url = url_to_parts(hostname)
            transport = transport or scheme
            hostname = url.hostname or ""
            userid = userid or url.username
            password = password or url.password
            port = port or url.port
            virtual_host = virtual_host or url.path
            query = url.query
        elif hostname:
            hostname, port = _split_bare_host(hostname, port)
        if port is not None:
            port = check_port(port)
        self._url_query = query
        for key, value in query.items():
            convert = URL_CONNECTION_OPTIONS.get(key)
            if convert is None:
                self.transport_options.setdefault(key, value)
            elif key == "ssl":
                ssl = ssl or convert(value)
            elif key == "heartbeat":
                heartbeat = heartbeat or convert(value)
            elif key == "connect_timeout":
                connect_timeout = convert(value)
            elif key == "login_method":
                login_method = login_method or value
            elif key == "insist":
                insist = convert(value)
        self.hostname = hostname or None
        self.userid = userid
        self.password = password
        self.login_method = login_method
        self.virtual_host = virtual_host or self.virtual_host
        self.port = port or self.port
        self.insist = insist
        self.connect_timeout = connect_timeout
        self.ssl = ssl
        self.transport_cls = transport or DEFAULT_TRANSPORT
        self.heartbeat = heartbeat and float(heartbeat)
        self.uri_prefix = uri_prefix
        self._transport_info = self._resolve_info(self.transport_cls)

    @staticmethod
    def _claims(scheme: str) -> bool:
        from kombu.plugins import registry

        return scheme.lower() in registry().transports

    @staticmethod
    def _resolve_info(transport: Any) -> Any:
        if isinstance(transport, str) and ":" not in transport and "." not in transport:
            from kombu.plugins import transport_info

            return transport_info(transport)
        return None

    def switch(self, conn_str: str) -> None:
        """Switch to another URL; the connection reopens on next use.

        A URL without a scheme is a host name that inherits everything else
        (transport, credentials, port, virtual host) from the first URL. A URL
        whose scheme is not a plain name raises ``ValueError`` before anything
        is closed, so the live connection stays as it was.
        """
        check_url_scheme(conn_str)
        if "://" in conn_str:
            params = dict(
                self._initial_params,
                hostname=conn_str,
                userid=None,
                password=None,
                virtual_host=None,
                port=None,
                transport=None,
                uri_prefix=None,
            )
        else:
            params = dict(self._initial_params, hostname=conn_str)
        self.close()
        self.declared_entities.clear()
        self._closed = False
        self._transport = None
        self._init_params(**params)

    def maybe_switch_next(self) -> None:
        """Switch to the next failover alternate, if there is one."""
        if self.cycle is not None and len(self.alt) > 1:
            self.switch(next(self.cycle))

    # -- connecting -------------------------------------------------------------------

    def connect(self) -> Connection:
        """Open the connection now (one attempt); return ``self``."""
        self._ensure_connection(max_retries=1, reraise_as_library_errors=False)
        return self

    def _connection_factory(self) -> Any:
        self.declared_entities.clear()
        self._default_channel = None
        self._hand_over_unconfirmed()
        self._connection = self._establish_connection()
        self._closed = False
        return self._connection

    def _establish_connection(self) -> Any:
        logger = _logger()
        if logger.isEnabledFor(10):
            logger.debug("establishing connection to %s", self.as_uri())
        return self.transport.establish_connection()

    @property
    def connection(self) -> Any:
        """The transport's connection object, opened on first access."""
        if not self._closed:
            if not self.connected:
                return self._ensure_connection(max_retries=1, reraise_as_library_errors=False)
            return self._connection
        return None

    @property
    def connected(self) -> bool:
        """Whether the connection is open."""
        return self._connection is not None and self.transport.verify_connection(self._connection)

    # -- retrying (kombu.retry: the retry policy, one idea of its own) ---------------------

    _ensure_connection = retry.connect
    ensure_connection = retry.ensure_connection
    _reraise_as_library_errors = retry.reraise_as_library_errors
    _extract_failover_opts = retry.transport_policy
    ensure = retry.ensure
    autoretry = retry.autoretry

    def completes_cycle(self, retries: int) -> bool:
        """Whether ``retries`` retries have tried every alternate once."""
        return not (retries + 1) % len(self.alt) if self.alt else True

    def revive(self, new_channel: Any) -> None:
        """Drop the default channel when a new one replaces it after reconnecting."""
        if self._default_channel is not None and new_channel is not self._default_channel:
            self.maybe_close_channel(self._default_channel)
            self._default_channel = None

    def _debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        logger = _logger()
        if logger.isEnabledFor(10) or _env_flag("KOMBU_LOG_CONNECTION"):
            logger.debug("[Connection %s] " + msg, self.as_uri(), *args, **kwargs)

    # -- channels and events -----------------------------------------------------------

    def channel(self) -> Any:
        """Create and return a new channel.

        With the environment variable ``KOMBU_LOG_CHANNEL`` set, every call on
        the channel is logged at DEBUG (``KOMBU_LOG_DEBUG`` sets both this and
        ``KOMBU_LOG_CONNECTION``, which logs connects and closes).
        """
        chan = self.transport.create_channel(self.connection)
        if _env_flag("KOMBU_LOG_CHANNEL"):
            from kombu.utils.debug import Logwrapped

            chan = Logwrapped(chan, "kombu.channel", "[Kombu channel:{0.channel_id}] ")
        return chan

    @property
    def default_channel(self) -> Any:
        """A channel made on first access and kept for the connection's life.

        Opening the connection here retries per the transport options
        ``max_retries``, ``interval_start``, ``interval_step``, ``interval_max``.
        """
        self._ensure_connection(**self._extract_failover_opts())
        if self._default_channel is None:
            self._default_channel = self.channel()
        return self._default_channel

    def drain_events(self, **kwargs: Any) -> Any:
        """Wait for one event (a message) on any channel of this connection.

        Raises :class:`socket.timeout` when ``timeout`` seconds passed with
        nothing received.
        """
        return self.transport.drain_events(self.connection, **kwargs)

    def maybe_close_channel(self, channel: Any) -> None:
        """Close ``channel``, ignoring connection and channel errors."""
        try:
            channel.close()
        except self.connection_errors + self.channel_errors + (OSError,):
            pass

    def heartbeat_check(self, rate: int = 2) -> Any:
        """Check heartbeats; call at ``rate`` times the heartbeat frequency."""
        return self.transport.heartbeat_check(self.connection, rate=rate)

    def get_heartbeat_interval(self) -> float:
        return float(self.transport.get_heartbeat_interval(self.connection))

    def register_with_event_loop(self, loop: Any) -> None:
        """Let ``loop`` (a :class:`kombu.asynchronous.Hub`) drive this connection."""
        self.transport.register_with_event_loop(self.connection, loop)

    @property
    def qos_semantics_matches_spec(self) -> bool:
        """Whether ``basic_qos(global=...)`` means what AMQP 0-9-1 says (Kombu 5: a property)."""
        return bool(self.transport.qos_semantics_matches_spec(self.connection))

    def supports_exchange_type(self, exchange_type: str) -> bool:
        return exchange_type in self.transport.implements.exchange_type

    # -- closing ------------------------------------------------------------------------

    def _do_close_self(self) -> None:
        self.declared_entities.clear()
        if self._default_channel is not None:
            self.maybe_close_channel(self._default_channel)
        if self._connection is not None:
            try:
                self.transport.close_connection(self._connection)
            except self.connection_errors + (AttributeError, OSError):
                pass
            self._connection = None

    def _close(self) -> None:
        if self.__dict__.get("_unconfirmed") and self._connection is None:
            # Publishes a collected transport left unconfirmed: one attempt
            # to re-send them (the close below waits for their confirmation).
            try:
                self._connection_factory()
            except self.recoverable_connection_errors as exc:
                self._debug("cannot re-send unconfirmed publishes at close: %r", exc)
        self._do_close_self()
        self._default_channel = None
        self._closed = True
        self._keep_unconfirmed()
        if self.__dict__.get("_unconfirmed"):
            _logger().warning(
                "%s closed with unconfirmed publishes; they are re-sent if this connection connects again",
                self.as_uri(),
            )
        self._transport = None

    def collect(self, socket_timeout: float | None = None) -> None:
        """Drop the (probably dead) connection without talking to the broker.

        Publishes the transport sent but the broker never confirmed are kept
        and handed to the next transport of this connection, which sends
        them again when it connects (at-least-once: a reconnect may
        duplicate a publish, never lose it).
        """
        collect = getattr(self._transport, "_collect", None)
        if collect is not None and self._connection is not None:
            try:
                collect(self._connection)
            except Exception:  # noqa: BLE001 - collecting a dead connection
                pass
        self._connection = None
        self._default_channel = None
        self.declared_entities.clear()
        self._keep_unconfirmed()
        self._transport = None

    # The unconfirmed window: a transport that pipelines publishes may offer
    # ``take_unconfirmed()`` (an opaque window, or None) and accept it back
    # with ``adopt_unconfirmed(window)`` on the next transport.
    def _keep_unconfirmed(self) -> None:
        take = getattr(self._transport, "take_unconfirmed", None)
        if take is None:
            return
        try:
            window = take()
        except Exception:  # noqa: BLE001 - a broken transport keeps nothing
            _logger().exception("could not take the unconfirmed publishes of %r", self)
            return
        if window:
            self.__dict__.setdefault("_unconfirmed", []).append(window)

    def _hand_over_unconfirmed(self) -> None:
        windows = self.__dict__.pop("_unconfirmed", None)
        if not windows:
            return
        adopt = getattr(self.transport, "adopt_unconfirmed", None)
        if adopt is None:
            _logger().warning("%s cannot re-send %d unconfirmed publish windows: dropped", self.as_uri(), len(windows))
            return
        for window in windows:
            adopt(window)

    def release(self) -> None:
        """Close the connection (or return it to its pool)."""
        self._close()

    close = release

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: Any = None, *exc_info: Any) -> None:
        if exc_type is not None and self._pool is not None:
            self._close()  # a pooled connection that saw an error goes back closed
        self.release()

    # -- the transport ---------------------------------------------------------------------

    def create_transport(self) -> Any:
        """Make the transport and give it its capabilities (see :func:`~kombu.transport.base.apply_capabilities`)."""
        from kombu.transport.base import apply_capabilities

        transport = self.get_transport_cls()(client=self)
        info = self._transport_info
        apply_capabilities(transport, info.capabilities if info is not None else None)
        return transport

    def get_transport_cls(self) -> Any:
        from kombu.transport import resolve_transport

        if self._transport_info is not None:
            from kombu.transport import _import_target

            return _import_target(self._transport_info.target)
        return resolve_transport(self.transport_cls)

    @property
    def transport(self) -> Any:
        if self._transport is None:
            self._transport = self.create_transport()
        return self._transport

    @property
    def capabilities(self) -> Any:
        """The transport's :class:`~kombu.hookspecs.Capabilities`."""
        if self._transport_info is not None:
            return self._transport_info.capabilities
        return self.transport.capabilities

    @property
    def connection_errors(self) -> tuple[type[BaseException], ...]:
        return tuple(self.transport.connection_errors)

    @property
    def channel_errors(self) -> tuple[type[BaseException], ...]:
        return tuple(self.transport.channel_errors)

    @property
    def recoverable_connection_errors(self) -> tuple[type[BaseException], ...]:
        try:
            return tuple(self.transport.recoverable_connection_errors)
        except AttributeError:
            return self.connection_errors

    @property
    def recoverable_channel_errors(self) -> tuple[type[BaseException], ...]:
        try:
            return tuple(self.transport.recoverable_channel_errors)
        except AttributeError:
            return ()

    @property
    def supports_heartbeats(self) -> bool:
        """Whether the transport sends and checks heartbeats."""
        return bool(self.transport.implements.heartbeats)

    @property
    def is_evented(self) -> bool:
        """Whether the transport can be driven by :class:`kombu.asynchronous.Hub`."""
        return bool(self.transport.implements.asynchronous)

    @property
    def manager(self) -> Any:
        return self.transport.manager

    def get_manager(self, *args: Any, **kwargs: Any) -> Any:
        return self.transport.get_manager(*args, **kwargs)

    # -- description ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``hostname:port``."""
        return ":".join([self.hostname or "localhost", str(self.port or self._default_port())])

    def _default_port(self) -> Any:
        try:
            return self.transport.default_port
        except Exception:  # noqa: BLE001 - only for display
            return None

    def _info(self, resolve: bool = True) -> list[tuple[str, Any]]:
        transport_cls = self.transport_cls
        if resolve and isinstance(transport_cls, str):
            transport_cls = self.resolve_aliases.get(transport_cls, transport_cls)
        defaults = self.transport.default_connection_params
        hostname = self.hostname or defaults.get("hostname")
        port = self.port or defaults.get("port")
        return [
            ("hostname", hostname),
            ("userid", self.userid or defaults.get("userid")),
            ("password", self.password or defaults.get("password")),
            ("virtual_host", self.virtual_host or defaults.get("virtual_host")),
            ("port", port),
            ("insist", self.insist),
            ("ssl", self.ssl),
            ("transport", transport_cls),
            ("connect_timeout", self.connect_timeout),
            ("transport_options", self.transport_options),
            ("login_method", self.login_method or defaults.get("login_method")),
            ("uri_prefix", self.uri_prefix),
            ("heartbeat", self.heartbeat),
            ("failover_strategy", self._failover_strategy),
            ("alternates", self.alt),
            ("credential_provider", self.credential_provider),
        ]

    def info(self) -> dict[str, Any]:
        """The connection's parameters as a dict (the password included)."""
        return dict(self._info())

    def as_uri(self, include_password: bool = False, mask: str = "**", getfields: Any = None) -> str:
        """Return the connection's URL; the password is masked unless asked for."""
        from kombu.utils.url import as_url

        info = self.info()
        vhost = info["virtual_host"]
        hostname = info["hostname"] or "localhost"
        password = info["password"]
        if include_password and callable(password):
            password = password()  # a password provider (Kombu 5.7); never called just to mask it
        uri = as_url(
            str(info["transport"]) if isinstance(info["transport"], str) else "custom",
            hostname,
            None if "," in hostname else info["port"],  # several hosts carry their own ports
            info["userid"],
            password,
            vhost if vhost not in (None, "") else None,
            sanitize=not include_password,
            mask=mask,
        )
        if self.uri_prefix:
            return f"{self.uri_prefix}+{uri}"
        return uri

    def clone(self, **kwargs: Any) -> Connection:
        """A new, unopened connection with the same parameters (``kwargs`` override)."""
        return self.__class__(**dict(self._info(resolve=False), **kwargs))

    def __reduce__(self) -> Any:
        return self.__class__, tuple(self.info().values()), None

    def __eqhash__(self) -> Any:
        return hash(
            (
                str(self.transport_cls),
                self.hostname,
                self.userid,
                self.password,
                self.virtual_host,
                self.port,
                repr(self.transport_options),
            )
        )

    def __repr__(self) -> str:
        return f"<Connection: {self.as_uri()} at {id(self):#x}>"

    def __copy__(self) -> Connection:
        return self.clone()

    # -- factories ------------------------------------------------------------------------

    def Producer(self, channel: Any = None, *args: Any, **kwargs: Any) -> Any:
        """A :class:`kombu.Producer` on ``channel`` (default: this connection)."""
        from kombu.messaging import Producer

        return Producer(channel or self, *args, **kwargs)

    def Consumer(self, queues: Any = None, channel: Any = None, *args: Any, **kwargs: Any) -> Any:
        """A :class:`kombu.Consumer` on ``channel`` (default: the default channel)."""
        from kombu.messaging import Consumer

        return Consumer(channel or self, queues, *args, **kwargs)

    def Pool(self, limit: int | None = None, **kwargs: Any) -> Any:
        """A pool of connections like this one, at most ``limit`` at a time."""
        from kombu.resource import ConnectionPool as _ConnectionPool

        return _ConnectionPool(self, limit=limit, **kwargs)

    def ChannelPool(self, limit: int | None = None, **kwargs: Any) -> Any:
        """A pool of channels of this connection, at most ``limit`` at a time."""
        from kombu.resource import ChannelPool as _ChannelPool

        return _ChannelPool(self, limit=limit, **kwargs)

    def SimpleQueue(
        self,
        name: Any,
        no_ack: bool | None = None,
        queue_opts: Any = None,
        queue_args: Any = None,
        exchange_opts: Any = None,
        channel: Any = None,
        **kwargs: Any,
    ) -> Any:
        """A :class:`kombu.simple.SimpleQueue` on this connection."""
        from kombu.simple import SimpleQueue

        return SimpleQueue(channel or self, name, no_ack, queue_opts, queue_args, exchange_opts, **kwargs)

    def SimpleBuffer(
        self,
        name: Any,
        no_ack: bool | None = None,
        queue_opts: Any = None,
        queue_args: Any = None,
        exchange_opts: Any = None,
        channel: Any = None,
        **kwargs: Any,
    ) -> Any:
        """A :class:`kombu.simple.SimpleBuffer` (transient, no acks) on this connection."""
        from kombu.simple import SimpleBuffer

        return SimpleBuffer(channel or self, name, no_ack, queue_opts, queue_args, exchange_opts, **kwargs)


BrokerConnection = Connection


def __getattr__(name: str) -> Any:
    if name in ("ConnectionPool", "ChannelPool", "Resource"):
        from kombu import resource

        return getattr(resource, name)
    raise AttributeError(name)
