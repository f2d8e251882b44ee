"""The lease keeper's own HTTP connection, which notices when it was cut.

Lease renewals run in :class:`kombu.transport.virtual.lease.LeaseKeeper`'s
thread, so they need a connection of their own. It is opened when the first
message is claimed and kept open. A pooled HTTP client would silently replace
a connection the network reset; this one does not: when its socket was
*reset* (the network or a proxy cut the connection while the consumer is
stalled), the consumer is taken for dead: :class:`LeaseLost` is raised, the
keeper stops renewing and the claims lapse after the visibility timeout, as
they would had the process died. A clean close by the server (idle
keep-alive timeout, a restart) only reconnects.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from .client import CouchDBConnectionError
from .conninfo import ConnInfo

__all__ = ("LeaseLink", "LeaseLost")


class LeaseLost(CouchDBConnectionError):
    """The lease connection was reset: this consumer's connection is gone."""


class LeaseLink:
    """One persistent HTTP connection used from one thread."""

    def __init__(self, info: ConnInfo) -> None:
        self.info = info
        self.lost = False
        self._base = "/" + quote(info.database, safe="")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if info.auth is not None:
            token = base64.b64encode(":".join(info.auth).encode()).decode()
            headers["Authorization"] = "Basic " + token
        self._headers = headers
        self._lock = threading.Lock()
        self.conn = self._new_connection()

    def _new_connection(self) -> http.client.HTTPConnection:
        info = self.info
        timeout = max(info.connect_timeout, info.read_timeout)
        if not info.https:
            return http.client.HTTPConnection(info.host, info.port, timeout=timeout)
        ctx = ssl.create_default_context(cafile=info.verify if isinstance(info.verify, str) else None)
        if info.verify is False:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if info.cert is not None:
            certfile, keyfile = info.cert if isinstance(info.cert, tuple) else (info.cert, None)
            ctx.load_cert_chain(certfile, keyfile)
        return http.client.HTTPSConnection(info.host, info.port, timeout=timeout, context=ctx)

    def connect(self) -> None:
        """Open the connection now (so that a later cut of it is seen)."""
        try:
            self.conn.connect()
        except OSError as exc:
            raise CouchDBConnectionError(f"cannot reach {self.info.describe()}: {type(exc).__name__}") from None

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def alive(self) -> bool:
        """Whether the connection was not reset (any thread; reopens it after a clean close)."""
        with self._lock:
            try:
                self._check()
            except LeaseLost:
                return False
            except CouchDBConnectionError:
                return True  # the server is away: the next request reports it
            return True

    def _check(self) -> None:
        """Raise :class:`LeaseLost` if the socket was reset; reopen it after a clean close."""
        if self.lost:
            raise LeaseLost(f"lease connection to {self.info.describe()} was reset")
        sock = self.conn.sock
        if sock is None:
            self.connect()
            return
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except (ConnectionResetError, ConnectionAbortedError):
            self.lost = True
            self.conn.close()
            raise LeaseLost(f"lease connection to {self.info.describe()} was reset") from None
        except (OSError, ValueError):
            pass
        # End of stream (the server closed an idle connection) or stray bytes.
        self.conn.close()
        self.connect()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        with self._lock:
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self._check()
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        try:
            self.conn.request(method, self._base + path, body=data, headers=self._headers)
            reply = self.conn.getresponse()
            raw = reply.read()
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.lost = True
            self.conn.close()
            raise LeaseLost(f"lease connection to {self.info.describe()} was reset") from None
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise CouchDBConnectionError(
                f"lease request to {self.info.describe()} failed: {type(exc).__name__}"
            ) from None
        return reply.status, (json.loads(raw) if raw else None)

    def bulk_docs(self, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        status, result = self.request("POST", "/_bulk_docs", {"docs": list(docs)})
        if status not in (200, 201, 202) or not isinstance(result, list):
            raise CouchDBConnectionError(f"lease renewal on {self.info.describe()}: HTTP {status}")
        return result

    def get(self, doc_id: str) -> dict[str, Any] | None:
        status, result = self.request("GET", "/" + quote(doc_id, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise CouchDBConnectionError(f"GET {doc_id} on {self.info.describe()}: HTTP {status}")
        return result  # type: ignore[no-any-return]
