"""From a ``kombu.Connection`` to redis-py connection pools.

Handles ``redis://``, ``rediss://`` (TLS; ``ssl_*`` options from the URL
query, ``Connection(ssl=...)`` or transport options), ``redis+socket://``
(Unix socket) and ``sentinel://`` (several sentinels separated by ``;``,
``master_name`` in the transport options). The database comes from the URL
path (``/3``), user name and password from the URL.

The password is handed to redis-py and nowhere else: nothing here puts it in
a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ("ConnInfo", "conninfo_from_client", "parse_db", "make_pool", "SSL_OPTIONS")

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

#: TLS options understood in the URL query, ``Connection(ssl={...})`` and
#: the transport options; passed to redis-py's ``SSLConnection``.
SSL_OPTIONS = (
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_ca_data",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
)

#: Socket options taken from the transport options.
SOCKET_OPTIONS = (
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "socket_keepalive_options",
    "client_name",
    "retry_on_timeout",
)

_CERT_REQS = {
    "none": _ssl.CERT_NONE,
    "cert_none": _ssl.CERT_NONE,
    "optional": _ssl.CERT_OPTIONAL,
    "cert_optional": _ssl.CERT_OPTIONAL,
    "required": _ssl.CERT_REQUIRED,
    "cert_required": _ssl.CERT_REQUIRED,
}


def parse_db(vhost: Any) -> int:
    """The database number of a virtual host (``''``, ``'/'`` -> 0; ``'/3'`` -> 3)."""
    if isinstance(vhost, int):
        return vhost
    text = (vhost or "").strip("/")
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"Redis database must be an integer, not {text!r}") from None


def _cert_reqs(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return _CERT_REQS[value.lower()]
        except KeyError:
            raise ValueError(f"unknown ssl_cert_reqs {value!r}") from None
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("0", "false", "no", "off", "")
    return bool(value)


@dataclass
class ConnInfo:
    """Where and how to connect; everything needed to build pools.

    ``password`` is excluded from ``repr``.
    """

    kind: str = "tcp"  # tcp | unix | sentinel
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    path: str | None = None  # unix socket
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: dict[str, Any] | None = None  # None: plain TCP
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    master_name: str | None = None
    sentinel_kwargs: dict[str, Any] | None = field(default=None, repr=False)
    min_other_sentinels: int = 0
    socket: dict[str, Any] = field(default_factory=dict)
    health_check_interval: float = 25.0

    def connection_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a redis-py connection (without the class)."""
        # A password without a user name authenticates as "default" (AUTH default
        # <password>), as redis-py does over HELLO: that also connects to a server
        # without a password (its default user is nopass); redis-py falls back
        # to the one-argument AUTH on servers older than 6.
        kw: dict[str, Any] = {
            "db": self.db,
            "username": self.username or ("default" if self.password else None),
            "password": self.password,
            # The Link runs its own health checks between
            # pipelined replies; redis-py's would interleave.
            "health_check_interval": 0,
            # RESP2: PUB/SUB messages are plain replies, as
            # Kombu 5 reads them (RESP3 makes them pushes).
            "protocol": 2,
        }
        kw.update({k: v for k, v in self.socket.items() if v is not None})
        if self.kind == "unix":
            kw["path"] = self.path
            for key in ("socket_connect_timeout", "socket_keepalive", "socket_keepalive_options"):
                kw.pop(key, None)
        elif self.kind == "tcp":
            kw["host"] = self.host
            kw["port"] = self.port
        if self.ssl is not None:
            kw.update(self.ssl)
        return kw

    def describe(self) -> str:
        """A short, password-free description for error messages."""
        if self.kind == "unix":
            return f"redis+socket://{self.path}"
        if self.kind == "sentinel":
            hosts = ";".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"sentinel://{hosts} (master {self.master_name!r})"
        scheme = "rediss" if self.ssl is not None else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


def _query_of(text: str) -> dict[str, str]:
    if "?" not in text:
        return {}
    return dict(parse_qsl(text.split("?", 1)[1]))


def conninfo_from_client(client: Any, options: Mapping[str, Any], scheme: str = "redis") -> ConnInfo:
    """Build :class:`ConnInfo` from a ``kombu.Connection`` and its transport options."""
    info = ConnInfo()
    hostname = getattr(client, "hostname", None) or "127.0.0.1"
    info.port = int(getattr(client, "port", None) or (DEFAULT_SENTINEL_PORT if scheme == "sentinel" else DEFAULT_PORT))
    info.username = getattr(client, "userid", None) or None
    info.password = getattr(client, "password", None) or None
    vhost = getattr(client, "virtual_host", None)
    query: dict[str, Any] = {}

    if "://" in hostname:  # Kombu 5 style: redis+socket:///path
        parts = urlsplit(hostname)
        query.update(_query_of(hostname))
        if parts.scheme == "socket":
            info.kind = "unix"
            info.path = unquote(parts.path) or None
        else:
            info.host = parts.hostname or "127.0.0.1"
            if parts.port:
                info.port = parts.port
        if parts.username:
            info.username = unquote(parts.username)
        if parts.password:
            info.password = unquote(parts.password)
    elif scheme == "redis+socket":
        # redis+socket:///run/redis.sock?virtual_host=2 -> path in the URL
        # path, database in the ``virtual_host`` option.
        info.kind = "unix"
        raw_path = vhost if isinstance(vhost, str) and vhost.strip("/") else hostname
        info.path = "/" + str(raw_path).lstrip("/")
        vhost = options.get("virtual_host", 0)
    else:
        info.host = hostname

    if info.kind == "unix" and "virtual_host" in query:
        vhost = query.pop("virtual_host")
    info.db = parse_db(vhost)

    for key in SOCKET_OPTIONS:
        if options.get(key) is not None:
            info.socket[key] = options[key]
    if "socket_connect_timeout" not in info.socket:
        timeout = getattr(client, "connect_timeout", None)
        if timeout:
            info.socket["socket_connect_timeout"] = timeout
    if options.get("health_check_interval") is not None:
        info.health_check_interval = float(options["health_check_interval"])

    ssl_opts = _ssl_options(scheme, getattr(client, "ssl", None), options, query)
    info.ssl = ssl_opts

    if scheme == "sentinel":
        info.kind = "sentinel"
        info.master_name = options.get("master_name")
        if not info.master_name:
            raise ValueError("sentinel:// needs the 'master_name' transport option")
        info.sentinels = _sentinel_hosts(client, info)
        info.sentinel_kwargs = options.get("sentinel_kwargs")
        info.min_other_sentinels = int(options.get("min_other_sentinels", 0))
    return info


def _ssl_options(
    scheme: str, client_ssl: Any, options: Mapping[str, Any], query: Mapping[str, Any]
) -> dict[str, Any] | None:
    wanted = scheme == "rediss" or bool(client_ssl) or _as_bool(options.get("ssl", False))
    found: dict[str, Any] = {}
    for source in (options, query, client_ssl if isinstance(client_ssl, Mapping) else {}):
        for key in SSL_OPTIONS:
            if key in source and source[key] is not None:
                found[key] = source[key]
    if isinstance(client_ssl, Mapping):
        # Kombu 5 also accepts the ssl module's names: cert_reqs, ca_certs, ...
        for key in ("cert_reqs", "ca_certs", "certfile", "keyfile"):
            if key in client_ssl:
                found.setdefault("ssl_" + key, client_ssl[key])
    if not wanted and not found:
        return None
    if "ssl_cert_reqs" in found:
        found["ssl_cert_reqs"] = _cert_reqs(found["ssl_cert_reqs"])
    if "ssl_check_hostname" in found:
        found["ssl_check_hostname"] = _as_bool(found["ssl_check_hostname"])
    return found


def _sentinel_hosts(client: Any, info: ConnInfo) -> list[tuple[str, int]]:
    hosts: list[tuple[str, int]] = []
    for url in getattr(client, "alt", None) or ():
        parts = urlsplit(url)
        if parts.scheme == "sentinel" and parts.hostname:
            hosts.append((parts.hostname, parts.port or DEFAULT_SENTINEL_PORT))
    if not hosts:
        hosts.append((info.host, info.port))
    return hosts


def make_pool(info: ConnInfo, max_connections: int | None = None) -> Any:
    """A redis-py connection pool for ``info`` (Sentinel-managed for sentinel://)."""
    import redis
    from redis import connection as rconn

    kwargs = info.connection_kwargs()
    if info.kind == "sentinel":
        from redis import sentinel as rsentinel

        conn_kw = {k: v for k, v in kwargs.items() if k not in ("host", "port")}
        sentinel_kwargs = dict(info.sentinel_kwargs or {})
        if info.ssl is not None:
            sentinel_kwargs.setdefault("ssl", True)
        # redis-py leaves the Sentinel constructors unannotated.
        sentinel = rsentinel.Sentinel(  # type: ignore[no-untyped-call]
            info.sentinels,
            min_other_sentinels=info.min_other_sentinels,
            sentinel_kwargs=sentinel_kwargs or None,
            **conn_kw,
        )
        master_kw: dict[str, Any] = {}
        if info.ssl is not None:
            master_kw["connection_class"] = _sentinel_ssl_class()
        return rsentinel.SentinelConnectionPool(  # type: ignore[no-untyped-call]
            info.master_name, sentinel, **conn_kw, **master_kw
        )
    if info.kind == "unix":
        cls: Any = rconn.UnixDomainSocketConnection
    elif info.ssl is not None:
        cls = rconn.SSLConnection
    else:
        cls = rconn.Connection
    return redis.ConnectionPool(connection_class=cls, max_connections=max_connections, **kwargs)


def _sentinel_ssl_class() -> Any:
    from redis import connection as rconn
    from redis import sentinel as rsentinel

    class SentinelManagedSSLConnection(rsentinel.SentinelManagedConnection, rconn.SSLConnection):
        """Find the master through Sentinel, talk to it over TLS."""

    return SentinelManagedSSLConnection
