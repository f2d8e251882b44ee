"""Fast handling of ``Basic.Deliver`` frames for the py-amqp transport.

py-amqp turns each delivery into an ``amqp.Message`` through its generic
frame handler and argument decoder, then Kombu wraps that in its own
``Message``. Here the three frames of a delivery (method, content header,
body) are parsed directly and the Kombu message is built once. Every other
frame goes to py-amqp's own handler, so everything else (synchronous
replies, ``basic_get``, returns, cancels, channel and connection closes)
keeps py-amqp's behaviour.

Decoded properties are cached by their raw bytes when they carry no
headers: a stream of messages of one shape decodes its properties once.

The other two methods with content, ``Basic.GetOk`` and ``Basic.Return``,
are assembled here too (into py-amqp's message class, then handed to
py-amqp's method dispatch as its own handler would) so that properties that
cannot be decoded (bad UTF-8, a corrupt table) never break the connection:
the message carries the error (``decode_error``) and the consumer rejects it.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct
from struct import error as StructError
from typing import Any, cast

from amqp.basic_message import Message as AmqpMessage
from amqp.exceptions import RecoverableConnectionError, UnexpectedFrame
from amqp.method_framing import frame_handler as amqp_frame_handler
from amqp.serialization import decode_properties_basic

from ._table import decode_properties_or_error

__all__ = ("make_frame_handler", "ContentMessage")

_DELIVER = b"\x00\x3c\x00\x3c"  # Basic.Deliver (60, 60)
_ACK = b"\x00\x3c\x00\x50"  # Basic.Ack (60, 80): a publisher confirm
_OTHER_CONTENT = {b"\x00\x3c\x00\x47": (60, 71), b"\x00\x3c\x00\x32": (60, 50)}  # GetOk, Return
_TAG = Struct(">Q")
_QB = Struct(">QB")
_HEADER = Struct(">HxxQ")
_PROPS_CACHE_MAX = 256

Frame = tuple[int, int, bytes]


class ContentMessage(AmqpMessage):  # type: ignore[misc]
    """py-amqp's message for ``basic_get``/returns, plus the properties' decode error."""

    __slots__ = ("decode_error",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decode_error: Exception | None = None


class _Pending:
    """A delivery whose content has not fully arrived yet."""

    __slots__ = ("info", "properties", "error", "size", "chunks", "received")

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.properties: dict[str, Any] = {}
        self.error: Exception | None = None
        self.size = 0
        self.chunks: list[bytes] = []
        self.received = 0


def _decode_properties(cache: dict[bytes, dict[str, Any]], raw: bytes) -> dict[str, Any]:
    props = cache.get(raw)
    if props is not None:
        return dict(props)
    # py-amqp ships no type information; this returns (properties, offset).
    props, _ = cast("tuple[dict[str, Any], int]", decode_properties_basic(raw, 0))
    if not props.get("application_headers"):
        if len(cache) >= _PROPS_CACHE_MAX:
            cache.clear()
        cache[raw] = dict(props)
        if "application_headers" in props:
            props["application_headers"] = {}
    return props


def make_frame_handler(connection: Any, callback: Callable[..., Any]) -> Callable[[Frame], bool]:
    """Build the connection's ``on_inbound_frame``.

    Signature and return value are py-amqp's frame handler's: returns
    ``True`` when a complete method (with its content) was dispatched.
    """
    fallback: Callable[[Frame], bool] = amqp_frame_handler(connection, callback)
    pending: dict[int, _Pending] = {}
    content: dict[int, ContentMessage] = {}
    props_cache: dict[bytes, dict[str, Any]] = {}
    unpack_qb = _QB.unpack_from
    unpack_header = _HEADER.unpack_from
    unpack_tag = _TAG.unpack_from

    def deliver(channel_id: int, p: _Pending, body: bytes) -> bool:
        channels = connection.channels
        if channels is None:
            raise RecoverableConnectionError("Connection already closed")
        channel = channels.get(channel_id)
        if channel is None or channel.is_closing:
            return True
        if p.error is None:
            channel.on_delivery(p.info, p.properties, body)
        else:
            channel.on_delivery(p.info, p.properties, body, p.error)
        return True

    def on_frame(frame: Frame) -> bool:
        frame_type, channel_id, buf = frame
        if frame_type == 1:
            if buf[:4] != _DELIVER:
                if buf[:4] == _ACK:
                    channel = (connection.channels or {}).get(channel_id)
                    on_confirm = getattr(channel, "on_publisher_ack", None)
                    if on_confirm is not None:
                        connection.bytes_recv += 1
                        on_confirm(unpack_tag(buf, 4)[0], bool(buf[12] & 1))
                        return True
                method = _OTHER_CONTENT.get(bytes(buf[:4]))
                if method is not None:
                    connection.bytes_recv += 1
                    content[channel_id] = ContentMessage(frame_method=method, frame_args=buf)
                    return False
                return fallback(frame)
            connection.bytes_recv += 1
            n = buf[4]
            end = 5 + n
            consumer_tag = buf[5:end].decode("utf-8", "surrogatepass")
            delivery_tag, redelivered = unpack_qb(buf, end)
            off = end + 9
            n = buf[off]
            exchange = buf[off + 1 : off + 1 + n].decode("utf-8", "surrogatepass")
            off += 1 + n
            n = buf[off]
            routing_key = buf[off + 1 : off + 1 + n].decode("utf-8", "surrogatepass")
            pending[channel_id] = _Pending(
                {
                    "consumer_tag": consumer_tag,
                    "delivery_tag": delivery_tag,
                    "redelivered": bool(redelivered),
                    "exchange": exchange,
                    "routing_key": routing_key,
                }
            )
            return False
        p = pending.get(channel_id)
        if p is None:
            msg = content.get(channel_id)
            if msg is None:
                return fallback(frame)
            return other_content(channel_id, msg, frame_type, buf)
        connection.bytes_recv += 1
        if frame_type == 2:
            _class_id, size = unpack_header(buf, 0)
            try:
                p.properties = _decode_properties(props_cache, buf[12:])
            except (ValueError, IndexError, StructError):
                # A poison message: hand it to the consumer with the error
                # (it rejects it) rather than break the connection.
                p.properties, p.error = decode_properties_or_error(buf[12:])
            p.size = size
            if not size:
                del pending[channel_id]
                return deliver(channel_id, p, b"")
            return False
        if frame_type == 3:
            if not p.chunks and len(buf) >= p.size:
                del pending[channel_id]
                return deliver(channel_id, p, buf)
            p.chunks.append(buf)
            p.received += len(buf)
            if p.received >= p.size:
                del pending[channel_id]
                return deliver(channel_id, p, b"".join(p.chunks))
            return False
        if frame_type == 8:
            return False
        raise UnexpectedFrame(f"Received frame {frame_type} while expecting content")

    def other_content(channel_id: int, msg: ContentMessage, frame_type: int, buf: bytes) -> bool:
        connection.bytes_recv += 1
        if frame_type == 2:
            msg.body_size = unpack_header(buf, 0)[1]
            try:
                msg.properties = decode_properties_basic(buf, 12)[0]
            except (ValueError, IndexError, StructError):
                msg.properties, msg.decode_error = decode_properties_or_error(buf[12:])
            msg.ready = not msg.body_size
        elif frame_type == 3:
            msg.inbound_body(buf)
        elif frame_type == 8:
            return False
        else:
            raise UnexpectedFrame(f"Received frame {frame_type} while expecting content")
        if not msg.ready:
            return False
        del content[channel_id]
        callback(channel_id, msg.frame_method, msg.frame_args, msg)
        return True

    return on_frame
