"""py-amqp socket transports with a write buffer and chunked reads.

py-amqp reads a frame with three ``recv`` calls sized exactly to the header,
payload and frame end, and writes every frame with its own ``sendall``.
These subclasses change only the I/O:

* **Reads** take whatever the socket has (up to 64 KiB) into a buffer and
  cut frames out of it by offset, so a burst of deliveries costs one
  ``recv``, not nine per message.
* **Writes** of asynchronous frames (publishes, acks, rejects) are appended
  to a write buffer (:meth:`BufferedIO.write_later`). The buffer is sent
  with one ``sendall``:

  - when it grows past ``write_buffer_size`` bytes;
  - before any other write (so frame order is kept; every synchronous
    method, channel or connection close goes through :meth:`write`);
  - before any ``recv``, i.e. before this connection could block waiting
    for the broker (``drain_events``, every synchronous method's reply,
    ``basic_get``, publisher confirms);
  - on :meth:`flush` (``heartbeat_check``, the event-loop tick, close,
    interpreter exit).

  Nothing sits in the buffer while the connection waits for the broker.
  What stays buffered after a publish, until one of the points above, is
  the tail of a burst of publishes when the application then does
  something other than talk to the broker (sleeps, say); it is sent at the
  application's next call into the connection, or at exit. Set
  ``write_buffer_size=0`` to send every frame at once instead.
"""

from __future__ import annotations

import atexit
import socket
import weakref
from ssl import SSLError
from struct import Struct
from typing import Any

from amqp.exceptions import UnexpectedFrame
from amqp.transport import SSLTransport, TCPTransport

__all__ = ("BufferedIO", "BufferedTCPTransport", "BufferedSSLTransport", "flush_all")

_HEAD = Struct(">BHI")
_unpack_head = _HEAD.unpack_from
RECV_SIZE = 65536
DEFAULT_WRITE_BUFFER = 65536

_live: weakref.WeakSet[BufferedIO] = weakref.WeakSet()


def flush_all() -> None:
    """Send what every live connection still has buffered (run at exit)."""
    for io in list(_live):
        try:
            io.flush()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(flush_all)


class BufferedIO:
    """Mixin over a py-amqp transport: buffered frame reads and batched writes.

    Attributes:
        write_buffer_size: flush threshold in bytes; ``0`` disables batching.
        on_write: called with no arguments after each ``sendall`` (the
            connection counts sent frames for heartbeats with it).
    """

    sock: Any
    connected: bool
    write_buffer_size: int = DEFAULT_WRITE_BUFFER
    on_write: Any = None

    def _init_buffers(self) -> None:
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()
        _live.add(self)

    # -- writing -------------------------------------------------------------
    def write_later(self, data: bytes) -> None:
        """Append an asynchronous frame; sent at the next flush point."""
        wbuf = self._wbuf
        wbuf += data
        if len(wbuf) >= self.write_buffer_size:
            self.flush()

    def flush(self) -> None:
        """Send the write buffer now (no-op when empty)."""
        wbuf = self._wbuf
        if wbuf:
            self._wbuf = bytearray()
            self._send(wbuf)

    def write(self, s: bytes) -> None:
        """Send ``s`` now, after whatever is buffered (one ``sendall``)."""
        wbuf = self._wbuf
        if wbuf:
            wbuf += s
            self._wbuf = bytearray()
            self._send(wbuf)
        else:
            self._send(s)

    def _send(self, data: bytes | bytearray) -> None:
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise
        except (OSError, AttributeError) as exc:
            self.connected = False
            if isinstance(exc, AttributeError):  # socket already closed (None)
                raise OSError("connection already closed") from None
            raise
        if self.on_write is not None:
            self.on_write()

    def discard_writes(self) -> None:
        """Forget what is buffered (the connection is gone)."""
        self._wbuf = bytearray()

    # -- reading -------------------------------------------------------------
    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """Return the next ``(frame_type, channel, payload)``.

        Raises ``socket.timeout`` when the socket's timeout passes with no
        complete frame; whatever was received is kept for the next call.
        """
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos >= 8:
            frame_type, channel, size = _unpack_head(buf, pos)
            end = pos + 7 + size
            if end < len(buf):
                if buf[end] != 206:
                    raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
                self._rpos = end + 1
                return frame_type, channel, buf[pos + 7 : end]
        return self._read_frame_slow()

    def _read_frame_slow(self) -> tuple[int, int, bytes]:
        while True:
            buf, pos = self._rbuf, self._rpos
            need = 8
            if len(buf) - pos >= 7:
                frame_type, channel, size = _unpack_head(buf, pos)
                need = 8 + size
                if len(buf) - pos >= need:
                    end = pos + 7 + size
                    if buf[end] != 206:
                        raise UnexpectedFrame(
                            f"Received frame_end {buf[end]:#04x} while expecting 0xce"
                        )
                    self._rpos = end + 1
                    return frame_type, channel, buf[pos + 7 : end]
            self._fill(need - (len(buf) - pos))

    def _fill(self, missing: int) -> None:
        """Receive at least one more chunk (flushing pending writes first)."""
        if self._wbuf:
            self.flush()
        try:
            data = self._recv(max(RECV_SIZE, missing))
        except (BlockingIOError, InterruptedError):
            raise socket.timeout() from None
        except socket.timeout:
            raise
        except SSLError as exc:
            if "timed out" in str(exc) or "did not complete" in str(exc):
                raise socket.timeout() from None
            self.connected = False
            raise
        except OSError:
            self.connected = False
            raise
        if not data:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        rest = self._rbuf[self._rpos :]
        self._rbuf = rest + data if rest else data
        self._rpos = 0

    def _recv(self, size: int) -> bytes:
        return self.sock.recv(size)

    def has_buffered_frame(self) -> bool:
        """Whether a complete frame is already buffered (no ``recv`` needed)."""
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos < 8:
            return False
        size = _unpack_head(buf, pos)[2]
        return len(buf) - pos >= 8 + size


class BufferedTCPTransport(BufferedIO, TCPTransport):
    """Plain TCP transport with :class:`BufferedIO`."""

    def __init__(self, host: str, *args: Any, write_buffer_size: int = DEFAULT_WRITE_BUFFER,
                 **kwargs: Any) -> None:
        super().__init__(host, *args, **kwargs)
        self.write_buffer_size = write_buffer_size
        self._init_buffers()


class BufferedSSLTransport(BufferedIO, SSLTransport):
    """TLS transport with :class:`BufferedIO`."""

    def __init__(self, host: str, *args: Any, write_buffer_size: int = DEFAULT_WRITE_BUFFER,
                 **kwargs: Any) -> None:
        super().__init__(host, *args, **kwargs)
        self.write_buffer_size = write_buffer_size
        self._init_buffers()

    def _recv(self, size: int) -> bytes:
        return self.sock.recv(size)
