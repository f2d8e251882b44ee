"""One beanstalkd connection, safe to share between a channel and its lease thread.

beanstalkd ties a reserved job to the connection that reserved it: only that
connection may ``delete``, ``release``, ``bury`` or ``touch`` it, and when the
connection closes the server puts its reserved jobs back to ready. So every
channel owns one :class:`Link`, and its lease thread renews through the same
link. A lock serialises the request/response pairs.

greenstalk waits for each reply before the next command. The hot path
pipelines instead, on the same socket and the same buffered reader
(:class:`_SharedReaderSocket` hands greenstalk that reader): puts are sent
without waiting, their confirmations read in windows (a broken link's
unconfirmed puts are re-sent by the next one); acks made while delivering
are sent together with the next ``reserve`` (or when the drain ends); and a
prefetch window is reserved with one write.

Errors: anything that leaves the socket unusable (EOF, reset, timeout, a reply
the client does not understand) closes the link and raises
:class:`BeanstalkConnectionError`, one of the transport's
``connection_errors``; replies such as ``NOT_FOUND`` come through as
greenstalk's own exception classes.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

import greenstalk
from kombu.exceptions import OperationalError

__all__ = ("Link", "Put", "BeanstalkConnectionError", "JobTooBig", "BURST_GAP")

#: A put less than this many seconds after the previous one is part of a burst:
#: it returns without waiting for its confirmation (see :meth:`Link.put`).
BURST_GAP = 0.002

logger = logging.getLogger(__name__)


class BeanstalkConnectionError(OperationalError, ConnectionError):
    """The beanstalkd connection failed or was lost (reconnecting may help)."""


class JobTooBig(OperationalError, ValueError):
    """A message is larger than the server's ``max-job-size`` (``beanstalkd -z``)."""


def _set_io_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Bound each send/recv by ``seconds`` in the kernel (SO_RCVTIMEO/SO_SNDTIMEO).

    The socket stays in blocking mode: a Python-level timeout would add a
    ``poll()`` before every send and receive. Where the options are not
    available, fall back to ``settimeout``.
    """
    sock.settimeout(None)
    if not seconds:
        return
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    except (OSError, AttributeError):
        sock.settimeout(seconds)


class Put(NamedTuple):
    """One ``put`` command, kept until the server confirmed it."""

    tube: str
    body: bytes
    priority: int
    delay: int
    ttr: int


class _SharedReaderSocket(socket.socket):
    """A socket whose ``makefile()`` is one shared buffered reader.

    greenstalk reads its replies through ``sock.makefile("rb")``; giving it the
    reader the pipelined path reads from keeps both on the same buffer.
    """

    shared_reader: Any = None

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return self.shared_reader


class Link:
    """A beanstalkd client connection with a lock, the used tube and the watch list cached."""

    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float | None = None,
        socket_timeout: float | None = None,
        lost: list[Put] | None = None,
        window: int = 64,
    ) -> None:
        self.address = (host, port)
        #: Where this link leaves its unconfirmed puts when it breaks (the
        #: transport re-sends them on its next link).
        self.lost: list[Put] = lost if lost is not None else []
        #: Unconfirmed puts allowed; 0 waits for each put's confirmation.
        self.window = max(0, window)
        #: Puts sent whose ``INSERTED`` has not been read yet, oldest first.
        self._unconfirmed: deque[Put] = deque()
        self._max_job_size: int | None = None
        self._last_put = 0.0
        self.lock = threading.RLock()
        self.closed = False
        try:
            plain = socket.create_connection(self.address, timeout=connect_timeout)
            sock = _SharedReaderSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            _set_io_timeout(sock, socket_timeout)
        except OSError as exc:
            raise BeanstalkConnectionError(f"cannot connect to beanstalkd at {host}:{port}: {exc}") from exc
        sock.shared_reader = self._reader = socket.socket.makefile(sock, "rb")
        self._sock = sock
        self.client: greenstalk.Client[bytes] = greenstalk.Client(sock, encoding=None)
        self._using = greenstalk.DEFAULT_TUBE
        self._watching: set[str] = {greenstalk.DEFAULT_TUBE}
        #: Acks (``delete``) not sent yet: they go out with the next command.
        self._deferred: list[int] = []

    def __repr__(self) -> str:
        return f"<beanstalk Link {self.address[0]}:{self.address[1]}{' closed' if self.closed else ''}>"

    # -- plumbing ---------------------------------------------------------------------
    def _broken(self, exc: BaseException) -> BeanstalkConnectionError:
        self._abandon()
        return BeanstalkConnectionError(f"beanstalkd connection to {self.address[0]}:{self.address[1]} lost: {exc!r}")

    def _call(self, fun: Any, *args: Any, flush: bool = True, confirms: bool = True) -> Any:
        """Run one exchange with the server.

        First the outstanding put confirmations are read (unless ``confirms``
        is false and no ack is to be sent) and the deferred acks sent (unless
        ``flush`` is false: the caller sends them itself).
        """
        if self.closed:
            raise BeanstalkConnectionError("beanstalkd connection is closed")
        try:
            if self._unconfirmed and (confirms or (flush and self._deferred)):
                self._read_confirms(0)
            if flush and self._deferred:
                self._send_and_read_deletes(b"")
            return fun(*args)
        except (OSError, greenstalk.UnknownResponseError, AssertionError, ValueError) as exc:
            raise self._broken(exc) from exc

    def close(self) -> None:
        """Send deferred acks, read confirmations, close; the server releases the reserved jobs."""
        if self.closed:
            return
        with self.lock:
            if self._unconfirmed or self._deferred:
                try:
                    self._call(lambda: None)  # deferred acks out, confirmations in
                except BeanstalkConnectionError:
                    pass  # _abandon hands the unconfirmed puts over for re-sending
            self._abandon()

    def abandon(self) -> None:
        """Drop the connection without talking to the server (it is presumed dead)."""
        with self.lock:
            self._abandon()

    def _abandon(self) -> None:
        """Close the socket; unconfirmed puts go to ``lost`` for the next link to re-send."""
        if self._unconfirmed:
            self.lost.extend(self._unconfirmed)
            self._unconfirmed.clear()
        if self.closed:
            return
        self.closed = True
        try:
            self.client.close()
        except OSError:
            pass

    # -- pipelining -------------------------------------------------------------------
    def _send_and_read_deletes(self, more: bytes) -> None:
        """Send the deferred deletes and ``more`` in one write; read the deletes' replies."""
        deferred, self._deferred = self._deferred, []
        self._sock.sendall(b"".join(b"delete %d\r\n" % job_id for job_id in deferred) + more)
        for job_id in deferred:
            status = self._reader.readline()
            if status != b"DELETED\r\n":
                if not status:
                    raise ConnectionError("Unexpected EOF")
                logger.warning(
                    "beanstalk: ack of job %s answered %r (its TTR ran out or its "
                    "connection changed; it may be delivered again)",
                    job_id,
                    status.strip(),
                )

    def defer_delete(self, job_id: int) -> None:
        """Ack ``job_id`` with the next command this link sends (see :meth:`flush`)."""
        with self.lock:
            self._deferred.append(job_id)

    def flush(self) -> None:
        """Send the deferred acks and read the outstanding put confirmations now."""
        if (self._deferred or self._unconfirmed) and not self.closed:
            with self.lock:
                self._call(lambda: None)

    def reserve_many(self, tubes: Iterable[str], count: int, timeout: int = 0) -> list[greenstalk.Job[bytes]]:
        """Reserve up to ``count`` jobs from ``tubes`` in one write; wait ``timeout`` s for the first.

        Deferred acks go out in the same write. Raises
        ``greenstalk.DeadlineSoonError`` when nothing was reserved because a
        held job is about to run out of TTR (the caller renews and retries).
        """
        with self.lock:
            self._watch_only(tubes)
            jobs: list[greenstalk.Job[bytes]] = self._call(self._reserve_many, max(1, count), timeout, flush=False)
            return jobs

    def _reserve_many(self, count: int, timeout: int) -> list[greenstalk.Job[bytes]]:
        first = b"reserve-with-timeout %d\r\n" % timeout
        self._send_and_read_deletes(first + b"reserve-with-timeout 0\r\n" * (count - 1))
        jobs: list[greenstalk.Job[bytes]] = []
        deadline_soon = False
        readline, read = self._reader.readline, self._reader.read
        for _ in range(count):
            line = readline()
            if line.startswith(b"RESERVED "):
                _, job_id, size = line.split()
                n = int(size)
                data = read(n + 2)
                if len(data) != n + 2:
                    raise ConnectionError("Unexpected EOF reading a job")
                jobs.append(greenstalk.Job(int(job_id), data[:n]))
            elif line == b"DEADLINE_SOON\r\n":
                deadline_soon = True
            elif line != b"TIMED_OUT\r\n":
                raise greenstalk.UnknownResponseError(line.strip(), [])
        if deadline_soon and not jobs:
            raise greenstalk.DeadlineSoonError()
        return jobs

    # -- producing ----------------------------------------------------------------------
    def put(self, tube: str, body: bytes, priority: int, delay: int, ttr: int) -> None:
        """Send a ``put`` into ``tube`` without waiting for its ``INSERTED``.

        Only a put that follows another within :data:`BURST_GAP` seconds
        returns unconfirmed, and at most ``window`` are: one more and every
        confirmation is read (``window=0``: each put waits for its own). So
        an isolated publish is confirmed when it returns; in a burst, the last
        puts are confirmed by the next command. Any other command reads them first, and so does :meth:`close`.
        A put whose confirmation never came (the connection broke) is handed
        to ``lost`` and re-sent by the next link (:meth:`resend`): a publish
        that returned is on the server or will be re-sent, possibly twice.
        """
        with self.lock:
            if len(body) > self.max_job_size():
                raise JobTooBig(
                    f"message of {len(body)} bytes is larger than the server's "
                    f"max-job-size of {self._max_job_size} (beanstalkd -z)"
                )
            if self._using != tube:
                self._call(self.client.use, tube)
                self._using = tube
            now = time.monotonic()
            in_burst, self._last_put = now - self._last_put < BURST_GAP, now
            put = Put(tube, body, priority, delay, ttr)
            try:
                self._call(self._send_put, put, not in_burst, confirms=False)
            except BeanstalkConnectionError:
                # The caller sees this put fail (and may retry it): not one to re-send.
                for i in range(len(self.lost) - 1, -1, -1):
                    if self.lost[i] is put:
                        del self.lost[i]
                        break
                raise

    def _send_put(self, put: Put, wait: bool = False) -> None:
        self._unconfirmed.append(put)
        self._sock.sendall(b"put %d %d %d %d\r\n%b\r\n" % (put.priority, put.delay, put.ttr, len(put.body), put.body))
        if wait or len(self._unconfirmed) > self.window:
            self._read_confirms(0)

    def _read_confirms(self, keep: int) -> None:
        """Read confirmations until at most ``keep`` puts are unconfirmed."""
        readline, unconfirmed = self._reader.readline, self._unconfirmed
        while len(unconfirmed) > keep:
            line = readline()
            if line.startswith(b"INSERTED "):
                unconfirmed.popleft()
            elif line.startswith(b"BURIED"):
                unconfirmed.popleft()
                logger.warning("beanstalk: the server buried a new job (out of memory): %r", line.strip())
            elif not line:
                raise ConnectionError("Unexpected EOF")
            else:  # DRAINING, OUT_OF_MEMORY...: not stored; re-sent on the next link
                raise greenstalk.UnknownResponseError(line.strip(), [])

    def max_job_size(self) -> int:
        """The server's ``max-job-size`` (asked once per connection)."""
        if self._max_job_size is None:
            self._max_job_size = int(self._call(self.client.stats)["max-job-size"])
        return self._max_job_size

    def resend(self, puts: Iterable[Put]) -> None:
        """Put ``puts`` (a broken link's unconfirmed ones) again, and wait for their confirmations."""
        todo = deque(puts)
        with self.lock:
            try:
                while todo:
                    put = todo[0]
                    if self._using != put.tube:
                        self._call(self.client.use, put.tube)
                        self._using = put.tube
                    self._call(self._send_put, todo.popleft(), confirms=False)
                self._call(lambda: None)
            finally:
                self.lost.extend(todo)  # not sent: the next link tries again

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
