"""From a ``kombu.Connection`` to pymongo's client arguments.

``mongodb://[user:pass@]host[:port]/db?options`` means what it means to
pymongo: the URL's query options (``replicaSet``, ``authSource``, ``tls``...)
are handed to pymongo as they are, except the transport's own options
(:data:`TRANSPORT_OPTIONS`), which configure the transport. The database is
the URL's path; an empty path or ``/`` means ``default_database``
(``kombu_default``), as in Kombu 5.7.

The password is only ever in the URI handed to ``MongoClient``; :func:`display`
gives the masked form for logs and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ("ClientConfig", "client_config", "TRANSPORT_OPTIONS", "DEFAULT_PORT", "DEFAULT_DATABASE")

DEFAULT_PORT = 27017
DEFAULT_DATABASE = "kombu_default"

#: Transport options (URL query or ``transport_options``) that are the
#: transport's, never passed to pymongo: Kombu 5.7's names, then this project's.
TRANSPORT_OPTIONS = frozenset(
    {
        "ttl",
        "calc_queue_size",
        "default_database",
        "default_hostname",
        "default_port",
        "messages_collection",
        "routing_collection",
        "broadcast_collection",
        "queues_collection",
        "capped_queue_size",
        "connect_timeout",
        "ssl",
        "polling_interval",
        "body_encoding",
        "deadletter_queue",
        "visibility_timeout",
        "lease_interval",
        "restore_interval",
        "fetch_batch",
        "ack_batch",
        "routing_cache_ttl",
        "min_polling_interval",
    }
)


@dataclass
class ClientConfig:
    """What a ``MongoClient`` is made from: ``uri`` (with credentials) and ``kwargs``."""

    uri: str
    database: str
    display: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``(hosts, database)``: identifies one broker, e.g. to share topology state.
    key: tuple[str, str] = ("", "")


def client_config(client: Any, options: dict[str, Any]) -> ClientConfig:
    """Build the pymongo arguments for kombu ``Connection`` ``client``."""
    scheme = str(getattr(client, "transport_cls", "mongodb") or "mongodb").lower()
    if scheme not in ("mongodb", "mongodb+srv"):
        scheme = "mongodb"
    host = client.hostname or options.get("default_hostname") or "127.0.0.1"
    if scheme == "mongodb+srv":
        netloc = host
    else:
        port = client.port or options.get("default_port") or DEFAULT_PORT
        netloc = host if ("," in host or host.count(":") == 1) else f"{host}:{port}"
    credentials = ""
    if client.userid:
        credentials = quote(str(client.userid), safe="")
        if client.password:
            credentials += ":" + quote(str(client.password), safe="")
        credentials += "@"
    vhost = (client.virtual_host or "").strip("/")
    database = vhost or options.get("default_database") or DEFAULT_DATABASE
    query = {k: v for k, v in (getattr(client, "_url_query", None) or {}).items() if k not in TRANSPORT_OPTIONS}
    kwargs: dict[str, Any] = {}
    lowered = {k.lower() for k in query}
    timeout = options.get("connect_timeout") or getattr(client, "connect_timeout", None)
    if timeout:
        ms = int(float(timeout) * 1000)
        if "connecttimeoutms" not in lowered:
            kwargs["connectTimeoutMS"] = ms
        if "serverselectiontimeoutms" not in lowered:
            kwargs["serverSelectionTimeoutMS"] = ms
    if "retryreads" not in lowered:
        # A lost connection surfaces to kombu (ensure, ConsumerMixin) as on every transport.
        kwargs["retryReads"] = False
    if (options.get("ssl") or getattr(client, "ssl", False)) and not lowered & {"ssl", "tls"}:
        kwargs["tls"] = True
    suffix = f"/{quote(database, safe='')}" + (f"?{urlencode(query)}" if query else "")
    uri = f"{scheme}://{credentials}{netloc}{suffix}"
    shown = f"{scheme}://" + (f"{quote(str(client.userid), safe='')}:**@" if client.userid else "") + netloc + suffix
    return ClientConfig(uri=uri, database=database, display=shown, kwargs=kwargs, key=(netloc, database))
