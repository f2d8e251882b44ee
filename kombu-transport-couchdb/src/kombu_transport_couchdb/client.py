"""A small typed client of the CouchDB HTTP API over a pooled ``requests.Session``.

Only the calls the transport needs: database create, document writes with
``_bulk_docs``, view and ``_all_docs`` ranges and the ``_changes``
feed. Every call is bounded in time (connect and read timeouts).

Errors are typed: a server that cannot be reached, a timeout or a 5xx reply
is a :class:`CouchDBConnectionError` (one of the transport's
``connection_errors``, so ``Connection.ensure`` retries it); any other
unexpected reply is a :class:`CouchDBError` (a channel error) carrying the
status. Neither names the password: it is only in the session's ``auth``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from kombu.exceptions import ChannelError, OperationalError

from . import documents as docs
from . import quirks
from .conninfo import ConnInfo

__all__ = ("CouchClient", "CouchDBError", "CouchDBConnectionError")

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


class CouchDBConnectionError(OperationalError, ConnectionError):
    """The server could not be reached or did not answer in time (recoverable)."""


class CouchDBError(ChannelError):
    """The server answered with an unexpected status."""

    def __init__(self, message: str, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class CouchClient:
    """Calls on one database; one pooled session per instance (not thread-safe).

    Make one per thread: the transport's lease keeper has its own.
    """

    def __init__(self, info: ConnInfo, pool_size: int = 4) -> None:
        self.info = info
        self.db_url = info.db_url
        self.server_url = info.server_url
        self.timeout = (info.connect_timeout, info.read_timeout)
        session = requests.Session()
        session.auth = info.auth
        session.verify = info.verify
        if info.cert is not None:
            session.cert = info.cert
        session.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.session = session

    def close(self) -> None:
        self.session.close()

    # -- plumbing -------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str = "",
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        ok: Sequence[int] = (200, 201, 202),
        timeout: Any = None,
        headers: Mapping[str, str] | None = None,
        server: bool = False,
    ) -> Any:
        """Send one request and return its decoded JSON reply; raise typed errors."""
        url = (self.server_url if server else self.db_url) + path
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        try:
            reply = self.session.request(
                method,
                url,
                data=data,
                params=params,
                headers={**_JSON, **headers} if headers else _JSON,
                timeout=timeout or self.timeout,
            )
        except requests.Timeout as exc:
            raise CouchDBConnectionError(f"{self.info.describe()}: no reply in time ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise CouchDBConnectionError(f"cannot reach {self.info.describe()}: {type(exc).__name__}") from None
        status = reply.status_code
        if status in ok:
            return reply.json() if reply.content else None
        try:
            err = reply.json()
        except ValueError:
            err = {}
        error = str(err.get("error", "")) if isinstance(err, dict) else ""
        reason = str(err.get("reason", "")) if isinstance(err, dict) else ""
        message = f"{method} {path or '/'} on {self.info.describe()}: HTTP {status} {error} {reason}".rstrip()
        if status >= 500:
            raise CouchDBConnectionError(message)
        raise CouchDBError(message, status, error)

    # -- database -------------------------------------------------------------------
    def server_info(self) -> dict[str, Any]:
        """``GET /``: the welcome document (``version``, ``vendor``)."""
        return self.request("GET", "/", server=True)  # type: ignore[no-any-return]

    def ensure_db(self) -> None:
        """Create the database unless it exists."""
        self.request("PUT", "", ok=(201, 202, 412))

    def db_info(self) -> dict[str, Any]:
        return self.request("GET", "")  # type: ignore[no-any-return]

    # -- documents ------------------------------------------------------------------
    def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document ``doc_id``, or ``None`` when it does not exist (or was deleted)."""
        try:
            return self.request("GET", "/" + _quote_id(doc_id))  # type: ignore[no-any-return]
        except CouchDBError as exc:
            if exc.status == 404:
                return None
            raise

    def post(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``doc`` (its ``_id`` chosen by the caller or the server)."""
        return self.request("POST", "", body=doc)  # type: ignore[no-any-return]

    def put(self, doc: Mapping[str, Any], ok: Sequence[int] = (201, 202)) -> Any:
        return self.request("PUT", "/" + _quote_id(doc["_id"]), body=doc, ok=ok)

    def touch(self, doc_id: str) -> None:
        """Write a new revision of ``doc_id`` (creating it), so that the changes feed reports it.

        Done when the write succeeds, or conflicts: a conflict means another
        writer changed the document after it was read here, and that change
        is on the feed after everything this client wrote before the touch.
        """
        current = self.get(doc_id)
        body: dict[str, Any] = {"_id": doc_id, "touched": time.time()}
        if current is not None:
            body["_rev"] = current["_rev"]
        self.put(body, ok=(201, 202, 409))

    def bulk_docs(self, docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``_bulk_docs``: one result per document, in order (``ok``/``rev`` or ``error``)."""
        if not docs:
            return []
        return self.request("POST", "/_bulk_docs", body={"docs": list(docs)})  # type: ignore[no-any-return]

    def view(
        self, startkey: Any, endkey: Any, *, limit: int | None = None, include_docs: bool = False, reduce: bool = False
    ) -> list[dict[str, Any]]:
        """Rows of the transport's view from ``startkey`` to ``endkey`` (inclusive)."""
        params: dict[str, Any] = {
            "startkey": json.dumps(startkey),
            "endkey": json.dumps(endkey),
            "reduce": "true" if reduce else "false",
        }
        if limit is not None:
            params["limit"] = limit
        if include_docs:
            params["include_docs"] = "true"
        path = f"/{docs.DESIGN_ID}/_view/{docs.VIEW}"
        return self.request("GET", path, params=params)["rows"]  # type: ignore[no-any-return]

    def all_docs(self, startkey: str, endkey: str, include_docs: bool = True) -> list[dict[str, Any]]:
        """``_all_docs`` rows with ids from ``startkey`` to ``endkey`` (inclusive)."""
        params = {
            "startkey": json.dumps(startkey),
            "endkey": json.dumps(endkey),
            "include_docs": "true" if include_docs else "false",
        }
        return self.request("GET", "/_all_docs", params=params)["rows"]  # type: ignore[no-any-return]

    def changes_stream(
        self, since: Any, heartbeat: float, doc_ids: Sequence[str] | None = None, silence: float | None = None
    ) -> Any:
        """Open the continuous ``_changes`` feed after ``since`` (a streaming reply; close it).

        Ids only, with a heartbeat line every ``heartbeat`` seconds and
        ``Accept-Encoding: identity`` (see :mod:`.quirks`); a silence of
        ``silence`` seconds (default: three heartbeats) ends it with a read
        timeout. Unfiltered, or with ``doc_ids`` only the changes of those
        documents (CouchDB's built-in ``_doc_ids`` filter).
        """
        params = {"feed": "continuous", "since": since, "heartbeat": int(heartbeat * 1000)}
        if doc_ids is not None:
            params.update(filter="_doc_ids", doc_ids=json.dumps(list(doc_ids)))
        try:
            reply = self.session.get(
                self.db_url + "/_changes",
                params=params,
                stream=True,
                headers={**_JSON, **quirks.FEED_HEADERS},
                timeout=(self.timeout[0], heartbeat * 3 if silence is None else silence),
            )
        except requests.RequestException as exc:
            raise CouchDBConnectionError(f"cannot reach {self.info.describe()}: {type(exc).__name__}") from None
        if reply.status_code != 200:
            reply.close()
            error = CouchDBConnectionError if reply.status_code >= 500 else CouchDBError
            raise error(f"_changes on {self.info.describe()}: HTTP {reply.status_code}")
        return reply


def _quote_id(doc_id: str) -> str:
    from urllib.parse import quote

    if doc_id.startswith("_design/"):
        return "_design/" + quote(doc_id[8:], safe="")
    return quote(doc_id, safe="")
