"""py-amqp's own socket transports, for the public path (see :mod:`.client_path`).

These subclasses override nothing of py-amqp: reads are py-amqp's
``read_frame``, every write is py-amqp's ``write`` (one ``sendall``). They
only add the methods the connection and channels call on the fast path's
:class:`~kombu_transport_amqp._io.BufferedIO`, in their simplest form:
nothing is held back, nothing is buffered ahead of py-amqp's reader.
"""

from __future__ import annotations

import select
import socket
from struct import Struct
from typing import Any

from amqp.transport import SSLTransport, TCPTransport

from ._io import BrokerClosed

__all__ = ("PlainTCPTransport", "PlainSSLTransport")

_HEAD = Struct(">BHI")
_CONNECTION_CLOSE = b"\x00\x0a\x00\x32"  # Connection.Close (10, 50)
_CONFIRMS = (b"\x00\x3c\x00\x50", b"\x00\x3c\x00\x78")  # Basic.Ack (60, 80), Basic.Nack (60, 120)
_PEEK = 65536


class PlainIO:
    """The fast path's transport interface over py-amqp's unmodified transport."""

    sock: Any
    connected: bool
    write: Any  # py-amqp's
    on_write: Any = None
    write_mode = "direct"

    def write_later(self, data: bytes, ack: bool = False) -> None:
        """Send ``data`` now (nothing is batched on this path)."""
        self.write(data)
        if self.on_write is not None:
            self.on_write()

    def flush(self) -> None:
        """Nothing is held back on this path."""

    def begin_dispatch(self) -> None:
        """Acks are not batched on this path."""

    def end_dispatch(self) -> None:
        """Acks are not batched on this path."""

    def discard_writes(self) -> None:
        """Nothing is held back on this path."""

    def has_buffered_frame(self) -> bool:
        """Always false: py-amqp reads frame by frame."""
        return False

    def read_buffered(self) -> None:
        """Nothing is read ahead on this path."""
        return None

    def acks_at_head(self) -> int:
        """How many complete ``Basic.Ack``/``Basic.Nack``/heartbeat frames lead what arrived (peeked).

        The connection then reads exactly that many frames through py-amqp,
        so confirms are applied without dispatching anything else out of turn.
        """
        data = self._peek()
        pos = count = 0
        while data and len(data) - pos >= 8:
            frame_type, _channel, size = _HEAD.unpack_from(data, pos)
            end = pos + 7 + size
            if end >= len(data) or data[end] != 0xCE:
                break
            if frame_type == 1:
                if size != 13 or data[pos + 7 : pos + 11] not in _CONFIRMS:
                    break
            elif frame_type != 8:
                break
            pos = end + 1
            count += 1
        return count

    def _peek(self) -> bytes | None:
        """What arrived and is not read yet (``b""``: end of stream); ``None`` if nothing/TLS."""
        sock = self.sock
        if sock is None or isinstance(self, SSLTransport):
            return None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        if not poller.poll(0):
            return None
        try:
            return sock.recv(_PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # type: ignore[no-any-return]
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            self.connected = False
            raise

    def salvage_frames(self) -> list[tuple[int, int, bytes]]:
        """No read buffer on this path: nothing to salvage."""
        return []

    def check_alive(self) -> None:
        """Raise if the broker closed this connection; never blocks, never consumes input.

        Looks at what arrived with ``MSG_PEEK`` (plain TCP only; TLS records
        cannot be peeked): end of stream raises ``OSError``, a
        ``Connection.Close`` frame raises :class:`BrokerClosed`.
        """
        data = self._peek()
        if data is None:
            return
        if not data:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        pos = 0
        while len(data) - pos >= 8:
            frame_type, channel, size = _HEAD.unpack_from(data, pos)
            if frame_type == 1 and channel == 0 and data[pos + 7 : pos + 11] == _CONNECTION_CLOSE:
                self.connected = False
                code = int.from_bytes(data[pos + 11 : pos + 13], "big")
                n = data[pos + 13] if len(data) > pos + 13 else 0
                raise BrokerClosed(code, data[pos + 14 : pos + 14 + n].decode("utf-8", "replace"))
            pos += 8 + size


class PlainTCPTransport(PlainIO, TCPTransport):  # type: ignore[misc]  # py-amqp ships no type information
    """py-amqp's TCP transport with :class:`PlainIO`."""

    def __init__(
        self, host: str, *args: Any, write_buffer_size: int = 0, write_mode: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(host, *args, **kwargs)


class PlainSSLTransport(PlainIO, SSLTransport):  # type: ignore[misc]  # py-amqp ships no type information
    """py-amqp's TLS transport with :class:`PlainIO`."""

    def __init__(
        self, host: str, *args: Any, write_buffer_size: int = 0, write_mode: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(host, *args, **kwargs)
