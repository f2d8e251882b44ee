"""A small threaded TCP proxy that the conformance kit uses to break connections.

:class:`FaultProxy` listens on ``127.0.0.1`` (an ephemeral port by default)
and forwards every accepted client connection to one upstream ``host:port``
(the broker). The kit points a connection at the proxy, then calls
:meth:`FaultProxy.cut` to close every live client/broker socket pair at once,
the way a network failure or a broker restart would, while new connections
are still accepted and forwarded. :meth:`FaultProxy.pause` stops forwarding
bytes (both directions) without closing anything, until
:meth:`FaultProxy.resume`.

Contract:

* Every thread the proxy starts is a daemon thread and exits after
  :meth:`FaultProxy.stop` (``stop`` joins them, bounded by a timeout).
* ``stop`` closes the listening socket and every forwarded socket; it is
  idempotent and is also what leaving the context manager does.
* ``cut`` never blocks on the peers: it shuts sockets down and closes them.
* The proxy uses only the standard library.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

__all__ = ("FaultProxy", "rewrite_url", "url_address")

_POLL = 0.1  # seconds; how often idle threads look at the stop/pause flags
_CHUNK = 65536


class _Pair:
    """One forwarded connection: the accepted client socket and its upstream."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def close(self, reset: bool = False) -> None:
        """Close both sockets once; with ``reset`` the peers get a TCP RST.

        The pump threads are stopped (and joined, bounded) before the sockets
        are closed, so the close is the sockets' last use and takes effect at
        once: when this returns, the peers have been sent their FIN or RST.
        """
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.upstream):
            try:
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        current = threading.current_thread()
        for thread in self.threads:
            if thread is not current:
                thread.join(1.0)
        for sock in (self.client, self.upstream):
            try:
                sock.close()
            except OSError:
                pass


class FaultProxy:
    """Forward TCP connections to ``(host, port)`` and break them on demand.

    Args:
        host: the upstream (broker) host.
        port: the upstream (broker) port.
        listen_host: the address to listen on; ``127.0.0.1`` by default.
        listen_port: the port to listen on; ``0`` picks a free one.
        connect_timeout: seconds allowed to open the upstream connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.target = (host, int(port))
        self._listen = (listen_host, listen_port)
        self.connect_timeout = connect_timeout
        self._server: socket.socket | None = None
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._threads: list[threading.Thread] = []
        #: connections accepted since start (a count, for tests to inspect).
        self.accepted = 0
        #: how many times :meth:`cut` closed at least one live connection.
        self.cuts = 0

    # -- lifecycle -------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` clients connect to; valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        host, port = self._server.getsockname()[:2]
        return host, port

    @property
    def active(self) -> int:
        """How many forwarded connections are open right now."""
        with self._lock:
            return sum(1 for pair in self._pairs if not pair.closed.is_set())

    def start(self) -> FaultProxy:
        """Listen and start accepting; returns ``self``. Starting twice is an error."""
        if self._server is not None:
            raise RuntimeError("FaultProxy already started")
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self._listen)
        server.listen(64)
        server.settimeout(_POLL)
        self._server = server
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close everything and join the threads (each join bounded by ``timeout``)."""
        self._stopping.set()
        self._flowing.set()
        if self._server is not None:
            try:
                self._server.close()
            except OSError:
                pass
        self._close_pairs(reset=False)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._threads.clear()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------
    def cut(self, reset: bool = False) -> int:
        """Close every live forwarded connection; return how many were closed.

        The listener keeps running, so a client that reconnects gets a new,
        working connection. With ``reset=True`` the peers see a TCP RST
        instead of an orderly close.
        """
        closed = self._close_pairs(reset=reset)
        if closed:
            self.cuts += 1
        return closed

    def pause(self) -> None:
        """Stop forwarding bytes in both directions; connections stay open."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward bytes again after :meth:`pause`."""
        self._flowing.set()

    def url(self, url: str) -> str:
        """Return ``url`` with its ``host:port`` replaced by this proxy's address."""
        return rewrite_url(url, self.address)

    # -- internals -------------------------------------------------------
    def _spawn(self, target: Callable[..., object], name: str, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=f"kombu-fault-proxy-{name}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return thread

    def _close_pairs(self, reset: bool) -> int:
        with self._lock:
            pairs = [pair for pair in self._pairs if not pair.closed.is_set()]
            self._pairs.clear()
        for pair in pairs:
            pair.close(reset=reset)
        return len(pairs)

    def _accept_loop(self) -> None:
        server = self._server
        assert server is not None
        while not self._stopping.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, self.connect_timeout)
            except OSError:
                client.close()
                continue
            client.setblocking(True)
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                if self._stopping.is_set():
                    pair.close()
                    return
                self._pairs.add(pair)
                self.accepted += 1
            pair.threads.append(self._spawn(self._pump, "c2s", pair, client, upstream))
            pair.threads.append(self._spawn(self._pump, "s2c", pair, upstream, client))

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes from ``source`` to ``sink`` until either side closes."""
        try:
            while not pair.closed.is_set() and not self._stopping.is_set():
                if not self._flowing.wait(_POLL):
                    continue
                readable, _, _ = select.select([source], [], [], _POLL)
                if not readable or not self._flowing.is_set():
                    continue
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            pair.close()


def url_address(url: str) -> tuple[str | None, int | None]:
    """Return the ``(host, port)`` a broker URL names, either may be ``None``."""
    first = url.split(";", 1)[0]
    parts = urlsplit(first)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.hostname, port


def rewrite_url(url: str, address: tuple[str, int]) -> str:
    """Return ``url`` pointing at ``address`` instead of its own ``host:port``.

    The scheme, user, password, path (virtual host), query and fragment are
    kept. Only the first URL of a ``;``-separated failover list is used.
    """
    first = url.split(";", 1)[0]
    parts = urlsplit(first)
    userinfo, sep, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{sep}{address[0]}:{address[1]}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
