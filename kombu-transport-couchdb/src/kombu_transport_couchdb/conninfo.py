"""From a ``kombu.Connection`` to where and how the HTTP client talks to CouchDB.

``couchdb://[user:pass@]host[:port]/database`` (port 5984, database
``kombu_default``); ``couchdbs://`` or ``Connection(ssl=...)`` /
``transport_options={"ssl": ...}`` for HTTPS. ``ssl`` may be ``True`` or a
dict with ``ca_certs`` (a CA bundle path), ``cert_reqs`` (``"none"`` turns
verification off), ``certfile`` and ``keyfile`` (a client certificate).

The password goes to the HTTP client's ``auth`` and nowhere else: it is not
in the base URL, in a ``repr`` or in :meth:`ConnInfo.describe`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

__all__ = ("ConnInfo", "conninfo_from_client", "DEFAULT_PORT", "DEFAULT_DATABASE")

DEFAULT_PORT = 5984
DEFAULT_DATABASE = "kombu_default"

#: CouchDB's rule for database names.
_DB_NAME = re.compile(r"^[a-z][a-z0-9_$()+/-]*$")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("0", "false", "no", "off", "")
    return bool(value)


def parse_database(vhost: Any) -> str:
    """The database of a virtual host (``''``, ``'/'`` -> ``kombu_default``)."""
    text = str(vhost or "").strip("/")
    if not text:
        return DEFAULT_DATABASE
    if not _DB_NAME.match(text):
        raise ValueError(
            f"invalid CouchDB database name {text!r}: lowercase letters, digits and _$()+-/ "
            "only, starting with a letter"
        )
    return text


@dataclass
class ConnInfo:
    """Where the server is and how to authenticate; ``password`` is not in ``repr``."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database: str = DEFAULT_DATABASE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    https: bool = False
    #: ``requests``' ``verify``: ``True``, ``False`` or a CA bundle path.
    verify: bool | str = True
    #: ``requests``' ``cert``: a client certificate (and key) path.
    cert: str | tuple[str, str] | None = None
    connect_timeout: float = 10.0
    #: Upper bound on waiting for one ordinary reply.
    read_timeout: float = 30.0

    @property
    def server_url(self) -> str:
        """``http(s)://host:port`` (no credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.https else 'http'}://{host}:{self.port}"

    @property
    def db_url(self) -> str:
        """The database's URL (no credentials)."""
        return f"{self.server_url}/{quote(self.database, safe='')}"

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None and self.password is None:
            return None
        return (self.username or "", self.password or "")

    def describe(self) -> str:
        """A short, password-free description for error messages."""
        user = f"{self.username}@" if self.username else ""
        return f"{'couchdbs' if self.https else 'couchdb'}://{user}{self.host}:{self.port}/{self.database}"


def _ssl_settings(ssl: Any) -> tuple[bool, bool | str, Any]:
    """``(https, verify, cert)`` from an ``ssl`` setting (bool or dict)."""
    if isinstance(ssl, Mapping):
        verify: bool | str = True
        reqs = ssl.get("cert_reqs", ssl.get("ssl_cert_reqs"))
        if reqs is not None and str(reqs).lower() in ("none", "cert_none", "0"):
            verify = False
        ca = ssl.get("ca_certs", ssl.get("ssl_ca_certs"))
        if ca and verify:
            verify = str(ca)
        certfile = ssl.get("certfile", ssl.get("ssl_certfile"))
        keyfile = ssl.get("keyfile", ssl.get("ssl_keyfile"))
        cert = (certfile, keyfile) if certfile and keyfile else certfile
        return True, verify, cert
    return _as_bool(ssl), True, None


def conninfo_from_client(client: Any, options: Mapping[str, Any]) -> ConnInfo:
    """Build a :class:`ConnInfo` from a ``kombu.Connection`` and its transport options."""
    scheme = str(getattr(client, "transport_cls", "") or "")
    ssl = options.get("ssl", getattr(client, "ssl", None))
    https, verify, cert = _ssl_settings(ssl)
    https = https or scheme == "couchdbs"
    port = client.port or DEFAULT_PORT
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"invalid CouchDB port {port!r}") from None
    info = ConnInfo(
        host=client.hostname or "127.0.0.1",
        port=port,
        database=parse_database(options.get("database") or client.virtual_host),
        username=client.userid or None,
        password=client.password or None,
        https=https,
        verify=verify,
        cert=cert,
    )
    if client.connect_timeout:
        info.connect_timeout = float(client.connect_timeout)
    if options.get("connect_timeout") is not None:
        info.connect_timeout = float(options["connect_timeout"])
    if options.get("request_timeout") is not None:
        info.read_timeout = float(options["request_timeout"])
    return info
