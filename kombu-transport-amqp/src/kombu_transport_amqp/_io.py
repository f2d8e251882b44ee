"""py-amqp socket transports with chunked reads and batched acknowledgements.

py-amqp reads a frame with three ``recv`` calls sized exactly to the header,
payload and frame end, and writes every frame with its own ``sendall``.
These subclasses change only the I/O.

**Reads** take whatever the socket has (up to 64 KiB) into a buffer and cut
frames out of it by offset, so a burst of deliveries costs one ``recv``, not
nine per message.

**Writes.** Every synchronous method, close and heartbeat is sent at once
(:meth:`BufferedIO.write`). Asynchronous frames (:meth:`BufferedIO.write_later`)
follow ``write_mode``:

``"direct"`` (default)
    A publish is sent at once, one ``sendall`` per message, as py-amqp
    does: when ``publish`` returns, the message is in the kernel. Only
    acknowledgements (ack, reject, nack) made *while the connection
    dispatches deliveries* (by consumer callbacks inside ``drain_events``)
    are batched in user space; they are sent with the next write, when
    the batch passes ``write_buffer_size``, before any ``recv`` by any
    connection of this thread (:func:`push_thread`), and when
    ``drain_events`` returns (:meth:`BufferedIO.end_dispatch`). Delaying
    an ack never loses a message: at worst the broker redelivers it.
``"cork"``
    Publishes are handed to the kernel at once on a socket with
    ``TCP_CORK`` set, so the kernel coalesces them into full segments; what
    is corked is pushed at every flush point above and by Linux itself after
    at most 200 ms. Saves CPU; a publish may reach the broker up to 200 ms
    later when the application goes quiet right after it.
``"buffer"``
    Publishes are batched in user space too, sent at the flush points
    above. Fastest; a trailing publish stays in this process until the
    application next calls into a connection of this thread (or closes it,
    or exits). For batch jobs that end with a synchronous call or close.
"""

from __future__ import annotations

import atexit
import select
import socket
import threading
import weakref
from ssl import SSLError
from struct import Struct
from typing import Any

from amqp.exceptions import UnexpectedFrame
from amqp.transport import SSLTransport, TCPTransport

__all__ = (
    "BufferedIO",
    "BufferedTCPTransport",
    "BufferedSSLTransport",
    "flush_all",
    "push_thread",
    "WRITE_MODES",
    "BrokerClosed",
)

_HEAD = Struct(">BHI")
_unpack_head = _HEAD.unpack_from
RECV_SIZE = 65536
DEFAULT_WRITE_BUFFER = 65536
WRITE_MODES = ("direct", "cork", "buffer")
_TCP_CORK = getattr(socket, "TCP_CORK", None)
_CONNECTION_CLOSE = b"\x00\x0a\x00\x32"  # Connection.Close (10, 50)
_BASIC_ACK = b"\x00\x3c\x00\x50"  # Basic.Ack (60, 80)
_BASIC_NACK = b"\x00\x3c\x00\x78"  # Basic.Nack (60, 120): same layout as Basic.Ack
_unpack_ack = Struct(">QB").unpack_from
_POLL_IN = select.POLLIN | select.POLLPRI


class BrokerClosed(Exception):
    """Raised by :meth:`BufferedIO.check_alive`: the broker sent ``Connection.Close``.

    ``reply_code`` and ``reply_text`` are the broker's; the connection maps
    them onto py-amqp's exception for that code.
    """

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(reply_code, reply_text)
        self.reply_code = reply_code
        self.reply_text = reply_text


_live: weakref.WeakSet[BufferedIO] = weakref.WeakSet()
_local = threading.local()


def _dirty_set() -> weakref.WeakSet[BufferedIO]:
    try:
        return _local.dirty  # type: ignore[no-any-return]
    except AttributeError:
        dirty: weakref.WeakSet[BufferedIO] = weakref.WeakSet()
        _local.dirty = dirty
        return dirty


def push_thread(skip: BufferedIO | None = None) -> None:
    """Push what every connection used by this thread holds back (before blocking)."""
    dirty = getattr(_local, "dirty", None)
    if not dirty:
        return
    for io in list(dirty):
        if io is not skip:
            try:
                io.flush()
            except OSError:
                pass  # that connection is broken; its owner will find out


def flush_all() -> None:
    """Send what every live connection still holds back (run at exit)."""
    for io in list(_live):
        try:
            io.flush()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


atexit.register(flush_all)


class BufferedIO:
    """Mixin over a py-amqp transport: buffered frame reads and batched writes.

    Attributes:
        write_buffer_size: user-space batch limit in bytes.
        write_mode: ``"direct"``, ``"cork"`` or ``"buffer"`` (module docstring).
        on_write: called with no arguments after each send (the connection
            counts sent frames for heartbeats with it).
    """

    sock: Any
    connected: bool
    having_timeout: Any  # py-amqp's transport method (context manager)
    write_buffer_size: int = DEFAULT_WRITE_BUFFER
    write_mode: str = "direct"
    on_write: Any = None

    def __init__(
        self,
        host: str,
        *args: Any,
        write_buffer_size: int = DEFAULT_WRITE_BUFFER,
        write_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, *args, **kwargs)  # type: ignore[call-arg]  # the py-amqp transport after this mixin
        if write_mode is None:
            write_mode = "direct"
        if write_mode not in WRITE_MODES:
            raise ValueError(f"write_mode must be one of {WRITE_MODES}, not {write_mode!r}")
        if write_mode == "cork" and _TCP_CORK is None:
            write_mode = "direct"
        self.write_mode = write_mode
        self.write_buffer_size = max(int(write_buffer_size), 0)
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()
        self._dispatching = 0
        self._corked = False
        self._dirty = False
        self._poller: Any = None
        self._scanned = 0
        _live.add(self)

    def _cork(self) -> None:
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
            self._corked = True
        except (OSError, AttributeError):
            self.write_mode = "direct"

    # -- writing -------------------------------------------------------------
    def begin_dispatch(self) -> None:
        """Writes until :meth:`end_dispatch` are batched in user space."""
        self._dispatching += 1

    def end_dispatch(self) -> None:
        """Stop batching and send everything (the caller regains control)."""
        self._dispatching = max(self._dispatching - 1, 0)
        self.flush()

    def write_later(self, data: bytes, ack: bool = False) -> None:
        """Write an asynchronous frame; ``ack`` for acknowledgements (module docstring)."""
        mode = self.write_mode
        if (ack and self._dispatching) or mode == "buffer":
            wbuf = self._wbuf
            wbuf += data
            if not self._dirty:
                self._dirty = True
                _dirty_set().add(self)
            if len(wbuf) >= self.write_buffer_size:
                self._send_buffer()
        elif mode == "cork":
            if not self._corked:
                self._cork()
            wbuf = self._wbuf
            if wbuf:
                wbuf += data
                self._wbuf = bytearray()
                self._send(wbuf)
            else:
                self._send(data)
            if not self._dirty:
                self._dirty = True
                _dirty_set().add(self)
        else:
            self.write(data)

    def _send_buffer(self) -> None:
        wbuf = self._wbuf
        if wbuf:
            self._wbuf = bytearray()
            self._send(wbuf)

    def flush(self) -> None:
        """Put everything held back on the wire now."""
        if not self._dirty:
            return
        self._dirty = False
        _dirty_set().discard(self)
        self._send_buffer()
        if self._corked:
            self._push()

    def _push(self) -> None:
        sock = self.sock
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
            except OSError:
                self.connected = False
                raise

    def write(self, s: bytes) -> None:
        """Send ``s`` now, after whatever is held back, and push it out."""
        wbuf = self._wbuf
        if wbuf:
            wbuf += s
            self._wbuf = bytearray()
            self._send(wbuf)
        else:
            self._send(s)
        if self._dirty:
            self._dirty = False
            _dirty_set().discard(self)
        if self._corked:
            self._push()  # a synchronous request must not wait in the cork

    def _send(self, data: bytes | bytearray) -> None:
        sock = self.sock
        if sock is None:
            self.connected = False
            raise OSError("connection already closed")
        try:
            sock.sendall(data)
        except TimeoutError:
            raise
        except OSError:
            self.connected = False
            raise
        if self.on_write is not None:
            self.on_write()

    def discard_writes(self) -> None:
        """Forget what is held back (the connection is gone)."""
        self._wbuf = bytearray()
        self._dirty = False
        _dirty_set().discard(self)

    # -- liveness ------------------------------------------------------------
    def _peer_spoke(self) -> bool:
        """Whether the socket has data, EOF or an error waiting (one ``poll(0)``)."""
        poller = self._poller
        if poller is None:
            sock = self.sock
            if sock is None:
                return True
            poller = self._poller = select.poll()
            poller.register(sock.fileno(), _POLL_IN)
        return bool(poller.poll(0))

    def check_alive(self) -> None:
        """Raise if the broker already closed this connection; never blocks.

        One ``poll(0)`` when nothing came in. When something did, it is read
        into the buffer (not dispatched) and the frames not yet looked at are
        scanned for ``Connection.Close``: :class:`BrokerClosed` is raised for
        one, ``OSError`` (``connected`` false) for end of stream or a socket
        error. RabbitMQ discards everything a client sends after its
        ``Connection.Close``, so a publish written then would be lost.
        """
        if not self._peer_spoke():
            return
        try:
            with self.having_timeout(0):
                self._fill(1)
        except TimeoutError:
            pass
        buf, pos = self._rbuf, max(self._scanned, self._rpos)
        end = len(buf)
        while end - pos >= 8:
            frame_type, channel, size = _unpack_head(buf, pos)
            if end - pos < 8 + size:
                break
            if frame_type == 1 and channel == 0 and buf[pos + 7 : pos + 11] == _CONNECTION_CLOSE:
                self.connected = False
                code = int.from_bytes(buf[pos + 11 : pos + 13], "big")
                n = buf[pos + 13]
                text = buf[pos + 14 : pos + 14 + n].decode("utf-8", "replace")
                raise BrokerClosed(code, text)
            pos += 8 + size
        self._scanned = pos

    def salvage_frames(self) -> list[tuple[int, int, bytes]]:
        """The complete frames still readable from a broken connection, undispatched.

        Reads what the socket still holds without blocking (until it is
        empty, ends or fails), then returns every complete buffered frame.
        Used to learn which publishes the broker confirmed before it went.
        """
        sock = self.sock
        while sock is not None:
            try:
                sock.settimeout(0)
                data = sock.recv(RECV_SIZE)
            except (OSError, ValueError):
                break
            if not data:
                break
            self._rbuf = self._rbuf[self._rpos :] + data
            self._rpos = 0
        frames = []
        frame = self.read_buffered()
        while frame is not None:
            frames.append(frame)
            frame = self.read_buffered()
        return frames

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

    def take_acks(self, apply: Any) -> int:
        """Consume the publisher confirms (and heartbeat) frames at the head of the read buffer.

        Calls ``apply(channel_id, delivery_tag, multiple, nack)`` for each
        ``Basic.Ack`` (``nack`` 0) or ``Basic.Nack`` (``nack`` 1) and stops at
        the first other frame, so nothing else is handled out of order; no
        I/O. Returns how many frames were consumed.
        """
        buf, pos = self._rbuf, self._rpos
        end = len(buf)
        taken = 0
        while end - pos >= 8:
            frame_type, channel, size = _unpack_head(buf, pos)
            stop = pos + 7 + size
            if stop >= end:
                break
            if frame_type == 1:
                if size != 13 or buf[stop] != 206:
                    break
                method = buf[pos + 7 : pos + 11]
                if method == _BASIC_ACK:
                    tag, flags = _unpack_ack(buf, pos + 11)
                    apply(channel, tag, flags & 1, 0)
                elif method == _BASIC_NACK:
                    tag, flags = _unpack_ack(buf, pos + 11)
                    apply(channel, tag, flags & 1, 1)
                else:
                    break
            elif frame_type != 8:
                break
            pos = stop + 1
            taken += 1
        self._rpos = pos
        return taken

    def read_buffered(self) -> tuple[int, int, bytes] | None:
        """The next frame if it is already completely buffered, else ``None`` (no I/O)."""
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos >= 8:
            frame_type, channel, size = _unpack_head(buf, pos)
            end = pos + 7 + size
            if end < len(buf):
                if buf[end] != 206:
                    raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
                self._rpos = end + 1
                return frame_type, channel, buf[pos + 7 : end]
        return None

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
                        raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
                    self._rpos = end + 1
                    return frame_type, channel, buf[pos + 7 : end]
            self._fill(need - (len(buf) - pos))

    def _fill(self, missing: int) -> None:
        """Receive at least one more chunk (pushing held-back writes first)."""
        if self._dirty:
            self.flush()
        push_thread()
        try:
            data = self._recv(max(RECV_SIZE, missing))
        except (BlockingIOError, InterruptedError):
            raise TimeoutError() from None
        except TimeoutError:
            raise
        except SSLError as exc:
            if "timed out" in str(exc) or "did not complete" in str(exc):
                raise TimeoutError() from None
            self.connected = False
            raise
        except OSError:
            self.connected = False
            raise
        if not data:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        rest = self._rbuf[self._rpos :]
        self._scanned = max(self._scanned - self._rpos, 0)
        self._rbuf = rest + data if rest else data
        self._rpos = 0

    def _recv(self, size: int) -> bytes:
        return self.sock.recv(size)  # type: ignore[no-any-return]

    def has_buffered_frame(self) -> bool:
        """Whether a complete frame is already buffered (no ``recv`` needed)."""
        buf, pos = self._rbuf, self._rpos
        if len(buf) - pos < 8:
            return False
        size: int = _unpack_head(buf, pos)[2]
        return len(buf) - pos >= 8 + size


class BufferedTCPTransport(BufferedIO, TCPTransport):  # type: ignore[misc]  # py-amqp ships no type information
    """Plain TCP transport with :class:`BufferedIO`."""


class BufferedSSLTransport(BufferedIO, SSLTransport):  # type: ignore[misc]  # py-amqp ships no type information
    """TLS transport with :class:`BufferedIO`."""

    def _peer_spoke(self) -> bool:
        sock = self.sock
        if sock is not None and sock.pending():
            return True
        return super()._peer_spoke()
