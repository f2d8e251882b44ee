"""One beanstalkd connection, safe to share between a channel and its lease thread.

beanstalkd ties a reserved job to the connection that reserved it: only that
connection may ``delete``, ``release``, ``bury`` or ``touch`` it, and when the
connection closes the server puts its reserved jobs back to ready. So every
channel owns one :class:`Link`, and its lease thread renews through the same
link. A lock serialises the request/response pairs.

Errors: anything that leaves the socket unusable (EOF, reset, timeout, a reply
the client does not understand) closes the link and raises
:class:`BeanstalkConnectionError`, one of the transport's
``connection_errors``; replies such as ``NOT_FOUND`` come through as
greenstalk's own exception classes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any

import greenstalk
from kombu.exceptions import OperationalError

__all__ = ("Link", "BeanstalkConnectionError", "JobTooBig")


class BeanstalkConnectionError(OperationalError, ConnectionError):
    """The beanstalkd connection failed or was lost (reconnecting may help)."""


class JobTooBig(OperationalError, ValueError):
    """A message is larger than the server's ``max-job-size`` (``beanstalkd -z``)."""


class Link:
    """A beanstalkd client connection with a lock, the used tube and the watch list cached."""

    def __init__(self, host: str, port: int, connect_timeout: float | None = None,
                 socket_timeout: float | None = None) -> None:
        self.address = (host, port)
        self.lock = threading.RLock()
        self.closed = False
        try:
            sock = socket.create_connection(self.address, timeout=connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.settimeout(socket_timeout)
        except OSError as exc:
            raise BeanstalkConnectionError(
                f"cannot connect to beanstalkd at {host}:{port}: {exc}") from exc
        self._sock = sock
        self.client: greenstalk.Client[bytes] = greenstalk.Client(sock, encoding=None)
        self._using = greenstalk.DEFAULT_TUBE
        self._watching: set[str] = {greenstalk.DEFAULT_TUBE}

    def __repr__(self) -> str:
        return f"<beanstalk Link {self.address[0]}:{self.address[1]}{' closed' if self.closed else ''}>"

    # -- plumbing ---------------------------------------------------------------------
    def _broken(self, exc: BaseException) -> BeanstalkConnectionError:
        self.close()
        return BeanstalkConnectionError(
            f"beanstalkd connection to {self.address[0]}:{self.address[1]} lost: {exc!r}")

    def _call(self, fun: Any, *args: Any) -> Any:
        if self.closed:
            raise BeanstalkConnectionError("beanstalkd connection is closed")
        try:
            return fun(*args)
        except (OSError, greenstalk.UnknownResponseError, AssertionError, ValueError) as exc:
            raise self._broken(exc) from exc

    def close(self) -> None:
        """Close the socket; the server releases the jobs reserved through it."""
        if self.closed:
            return
        self.closed = True
        try:
            self.client.close()
        except OSError:
            pass

    # -- producing ----------------------------------------------------------------------
    def put(self, tube: str, body: bytes, priority: int, delay: int, ttr: int) -> int:
        """Put a job in ``tube``; return its id."""
        with self.lock:
            if self._using != tube:
                self._call(self.client.use, tube)
                self._using = tube
            try:
                return int(self._call(self.client.put, body, priority, delay, ttr))
            except greenstalk.JobTooBigError as exc:
                raise JobTooBig(
                    f"message of {len(body)} bytes is larger than the server's max-job-size "
                    f"(beanstalkd -z)") from exc

    # -- consuming ----------------------------------------------------------------------
    def _watch_only(self, tubes: Iterable[str]) -> None:
        wanted = set(tubes)
        if wanted == self._watching or not wanted:
            return
        for tube in wanted - self._watching:
            self._call(self.client.watch, tube)
            self._watching.add(tube)
        for tube in self._watching - wanted:
            self._call(self.client.ignore, tube)
        self._watching = wanted

    def reserve(self, tubes: Iterable[str], timeout: int) -> greenstalk.Job[bytes] | None:
        """Reserve a job from any of ``tubes`` within ``timeout`` whole seconds, or ``None``.

        Raises ``greenstalk.DeadlineSoonError`` when a job this link holds is
        about to run out of TTR (the caller renews and tries again).
        """
        with self.lock:
            self._watch_only(tubes)
            try:
                return self._call(self.client.reserve, timeout)  # type: ignore[no-any-return]
            except greenstalk.TimedOutError:
                return None

    def delete(self, job_id: int) -> None:
        with self.lock:
            self._call(self.client.delete, job_id)

    def release(self, job_id: int, priority: int) -> None:
        with self.lock:
            self._call(self.client.release, greenstalk.Job(job_id, b""), priority, 0)

    def bury(self, job_id: int, priority: int) -> None:
        with self.lock:
            self._call(self.client.bury, greenstalk.Job(job_id, b""), priority)

    def touch(self, job_ids: Iterable[int]) -> int:
        """Renew the TTR of each job; return how many were still held."""
        renewed = 0
        with self.lock:
            for job_id in job_ids:
                try:
                    self._call(self.client.touch, greenstalk.Job(job_id, b""))
                    renewed += 1
                except greenstalk.NotFoundError:
                    pass
        return renewed

    # -- inspecting ---------------------------------------------------------------------
    def stats_tube(self, tube: str) -> dict[str, Any] | None:
        """The tube's ``stats-tube`` answer, or ``None`` when the tube does not exist."""
        with self.lock:
            try:
                return dict(self._call(self.client.stats_tube, tube))
            except greenstalk.NotFoundError:
                return None

    def job_tube(self, job_id: int) -> str | None:
        with self.lock:
            try:
                return str(self._call(self.client.stats_job, job_id)["tube"])
            except greenstalk.NotFoundError:
                return None

    def purge(self, tube: str) -> int:
        """Delete every ready, delayed and buried job of ``tube``; return how many."""
        removed = 0
        with self.lock:
            if self._using != tube:
                self._call(self.client.use, tube)
                self._using = tube
            for peek in (self.client.peek_ready, self.client.peek_delayed, self.client.peek_buried):
                while True:
                    try:
                        job = self._call(peek)
                    except greenstalk.NotFoundError:
                        break
                    try:
                        self._call(self.client.delete, job.id)
                        removed += 1
                    except greenstalk.NotFoundError:
                        pass  # reserved by someone between peek and delete
        return removed

    def ping(self) -> None:
        with self.lock:
            self._call(self.client.using)
