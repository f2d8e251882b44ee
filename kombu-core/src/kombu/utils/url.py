"""Parsing and formatting of broker URLs.

A broker URL has the form ``transport://userid:password@hostname:port/virtual_host?opt=v``.
``transport+scheme://...`` (e.g. ``redis+socket://``) keeps the whole scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlparse, urlsplit

__all__: tuple[str, ...] = (
    "urlparts",
    "url_to_parts",
    "parse_url",
    "as_url",
    "sanitize_url",
    "maybe_sanitize_url",
    "parse_ssl_cert_reqs",
)

MASK = "**"


class urlparts(NamedTuple):
    """The parts of a broker URL; ``path`` has its leading slash removed."""

    scheme: str
    hostname: str | None
    port: int | None
    username: str | None
    password: str | None
    path: str | None
    query: dict[str, Any]


def url_to_parts(url: str) -> urlparts:
    """Split ``url`` into :class:`urlparts`, unquoting user, password and path."""
    scheme = urlsplit(url).scheme
    if not scheme:
        raise ValueError(f"Malformed URL: {url!r}")
    # urlsplit only knows netlocs for some schemes; make it treat ours alike.
    parts = urlsplit("http" + url[len(scheme) :])
    path = parts.path
    if path.startswith("/"):
        path = path[1:]
    hostinfo = parts.netloc.rpartition("@")[2]
    if "," in hostinfo:
        # Several seed hosts (``mongodb://h1:27017,h2:27017/db``): kept as one
        # host string with their ports, for the transport to hand to its client.
        hostname: str | None = unquote(hostinfo)
        port = None
    else:
        hostname = unquote(parts.hostname) if parts.hostname else None
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{exc} in URL {_mask_netloc_password(url)!r}") from None
    return urlparts(
        scheme,
        hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        unquote(path) if path else None,
        dict(parse_qsl(parts.query)),
    )


def _mask_netloc_password(url: str, mask: str = MASK) -> str:
    """``url`` with the password of its netloc masked, without parsing the rest."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":" + mask
    return f"{scheme}{sep}{userinfo}{at}{hostport}{slash}{tail}"


#: Kombu 5's private name, imported by Celery.
_parse_url = url_to_parts
__all__ += ("urlparse",)


def parse_url(url: str) -> dict[str, Any]:
    """Parse ``url`` into keyword arguments for :class:`kombu.Connection`.

    Returns a dict with ``transport``, ``hostname``, ``port``, ``userid``,
    ``password`` and ``virtual_host``, plus every query option. As in Kombu
    5, the ``ssl_*`` options are gathered in an ``ssl`` dict:
    ``ssl_cert_reqs`` becomes the :mod:`ssl` constant
    (:func:`parse_ssl_cert_reqs`; an unknown level is a ``ValueError``
    naming it) and ``ssl_check_hostname`` a bool (false only for ``false``).
    """
    scheme, host, port, user, password, path, query = url_to_parts(url)
    for key in [key for key in query if key.startswith("ssl_")]:
        value: Any = query.pop(key)
        if key == "ssl_check_hostname":
            value = value.lower() != "false"
        elif key == "ssl_cert_reqs":
            try:
                value = parse_ssl_cert_reqs(value)
            except KeyError:
                raise ValueError(f"Unknown ssl_cert_reqs {value!r} in URL {sanitize_url(url)!r}") from None
        if not isinstance(query.get("ssl"), dict):
            query["ssl"] = {}  # ``ssl=1`` with options: the options say it
        query["ssl"][key] = value
    return dict(
        transport=scheme,
        hostname=host,
        port=port,
        userid=user,
        password=password,
        virtual_host=path,
        **query,
    )


def as_url(
    scheme: str,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    path: str | None = None,
    query: Mapping[str, Any] | None = None,
    sanitize: bool = False,
    mask: str = MASK,
) -> str:
    """Format URL parts back into a URL; with ``sanitize`` the password is masked.

    As in Kombu 5, the URL always has a ``/`` after the host (then the
    path), and ``query`` is accepted but never written: a formatted URL is
    for display and identity, and query options (which may carry secrets
    such as tokens or key passwords) stay out of it.
    """
    url = f"{scheme}://"
    if user:
        url += quote(user, safe="")
        if password:
            url += ":" + (mask if sanitize else quote(password, safe=""))
        url += "@"
    elif password:
        url += ":" + (mask if sanitize else quote(password, safe="")) + "@"
    url += host or ""
    if port:
        url += f":{port}"
    url += "/"
    if path:
        url += quote(path, safe="/")
    return url


def sanitize_url(url: str, mask: str = MASK) -> str:
    """Return ``url`` with its password replaced by ``mask`` and its query left out."""
    return as_url(*url_to_parts(url), sanitize=True, mask=mask)


def maybe_sanitize_url(url: Any, mask: str = MASK) -> Any:
    """Sanitize ``url`` if it is a URL string; return anything else unchanged."""
    if isinstance(url, str) and "://" in url:
        try:
            return sanitize_url(url, mask)
        except ValueError:
            return _mask_netloc_password(url, mask)
    return url


def parse_ssl_cert_reqs(query_value: str) -> int:
    """The :mod:`ssl` constant named by an ``ssl_cert_reqs`` URL option.

    Accepts ``CERT_REQUIRED``/``required``, ``CERT_OPTIONAL``/``optional``
    and ``CERT_NONE``/``none``; any other value raises ``KeyError`` (as in
    Kombu 5). Kombu returns ``None`` on an interpreter without :mod:`ssl`;
    here that is an ``ImportError`` rather than a silent downgrade.
    """
    import ssl

    levels = {
        "CERT_REQUIRED": ssl.CERT_REQUIRED,
        "CERT_OPTIONAL": ssl.CERT_OPTIONAL,
        "CERT_NONE": ssl.CERT_NONE,
    }
    return levels[_SSL_LEVEL_NAMES.get(query_value, query_value)]


_SSL_LEVEL_NAMES = {"required": "CERT_REQUIRED", "optional": "CERT_OPTIONAL", "none": "CERT_NONE"}
