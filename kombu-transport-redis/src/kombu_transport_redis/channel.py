"""The Redis channel and its acknowledgement bookkeeping.

A :class:`Channel` implements the virtual engine's storage primitives on
Redis lists and sets laid out as Kombu 5.7.0 lays them out (see
:mod:`kombu_transport_redis.keys`). Its commands go through the transport's
pipelined :class:`~kombu_transport_redis.link.Link`; consuming (fetching,
blocking, PUB/SUB) is driven by the transport (:mod:`.consumer`).

Acknowledgement contract (at-least-once):

* A delivery is recorded in ``unacked``/``unacked_index`` in the same atomic
  step that takes it off its list (Lua ``FETCH``), before the application
  sees it; the record is removed only when the application acks or rejects.
* The engine's QoS keeps the bookkeeping and calls the channel's storage
  hooks: an ack (or a reject without requeue) settles the record
  (``_settle_deliveries``), ``reject(requeue=True)`` puts the message back at
  the back of the queue it came from (Kombu 5's place) and a clean close at
  its head (``_release_deliveries``), each exactly once (Lua ``RESTORE``:
  only the one who removes the record pushes the message).
* A consumer that dies leaves its records; any consumer restores them after
  ``visibility_timeout`` (:mod:`.restore`). While the consumer lives, its
  the lease keeper (:mod:`kombu_transport_redis.lease`) keeps them fresh.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from kombu.transport import virtual
from kombu.transport.virtual.base import Empty
from kombu.transport.virtual.enforcement import UNKNOWN
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES, DirectExchange

from . import scripts

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Channel", "QoS", "RedisDirectExchange")

logger = logging.getLogger(__name__)
_dumps = json.dumps
_loads = json.loads


def mark_redelivered(raw: str | bytes) -> str:
    """The envelope ``raw`` with Kombu 5's redelivered flags set, as JSON."""
    payload = _loads(raw)
    props = payload.setdefault("properties", {})
    info = props.get("delivery_info")
    if not isinstance(info, dict):
        info = props["delivery_info"] = {}
    info["redelivered"] = True
    headers = payload.get("headers")
    if isinstance(headers, dict):
        headers["redelivered"] = True
    return _dumps(payload)


class QoS(virtual.QoS):
    """The engine's prefetch and acks; the records in Redis are settled and released by the channel."""

    channel: Channel

    def restore_visible(self, *args: Any, **kwargs: Any) -> None:
        self.channel.connection.restore_visible()


class RedisDirectExchange(DirectExchange):
    """Direct exchange routed by the Redis server (one pipelined script call)."""

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None:
        channel = cast("Channel | None", self.channel)
        if channel is None or not channel._can_route_on_server(exchange):
            super().deliver(message, exchange, routing_key, **kwargs)
            return
        channel._put_direct(exchange, routing_key, message)


class Channel(virtual.Channel):
    """A channel of the Redis transport."""

    QoS = QoS
    connection: Transport
    supports_fanout = True
    exchange_types = {**STANDARD_EXCHANGE_TYPES, "direct": RedisDirectExchange}
    from_transport_options = virtual.Channel.from_transport_options + ("server_routing", "limits_recheck")

    #: Route direct exchanges inside Redis (Lua) rather than reading the
    #: bindings first: one pipelined command per publish, always current.
    server_routing = True
    #: Seconds an answer of :meth:`_exchange_limited` is trusted.
    limits_recheck = 5.0

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.keys = connection.keys
        #: queue -> x-expires in ms, for queues declared with ``expires``.
        self._expires: dict[str, int] = {}
        #: delivery tag -> (queue, raw envelope) of every recorded delivery
        #: this channel holds (fetched, delivered or not, and not yet acked).
        self._inflight: dict[str, tuple[str, str]] = {}
        #: fetched, not yet delivered: (queue, raw envelope, tag or None).
        self._buffer: deque[tuple[str, dict[str, Any], str | None]] = deque()

    @property
    def link(self) -> Any:
        """The transport's command link (replaced when the transport reconnects)."""
        return self.connection.link

    # -- producing --------------------------------------------------------------
    def _can_route_on_server(self, exchange: str = "") -> bool:
        """Whether a direct publish to ``exchange`` may be routed inside Redis, bypassing the engine.

        Not when a queue this process knows of expires (its keys' expiry is
        refreshed on publish) or has a length limit, when unroutable
        messages go to a ``deadletter_queue``, nor when any process bound a
        length-limited queue to ``exchange`` (:meth:`_exchange_limited`):
        the engine enforces ``x-max-length``/``x-overflow``.
        """
        if not self.server_routing or self._expires or self._limits or self.deadletter_queue:
            return False
        return not self._exchange_limited(exchange)

    def _limited_exchanges_key(self) -> str:
        # Ours: Kombu 5.7 never reads it.
        return f"{self.keys.prefix}_kombu.limited_exchanges"

    def _exchange_limited(self, exchange: str) -> bool:
        """Whether some process bound a length-limited queue to ``exchange``.

        The answer is asked of Redis at most once per ``limits_recheck``
        seconds per exchange and connection, so a limit declared by another
        process is honoured by this one's publishes within that time.
        """
        cache = self.connection.limited_exchanges
        now = time.monotonic()
        hit = cache.get(exchange)
        if hit is not None and now - hit[1] < self.limits_recheck:
            return hit[0]
        link = self.link
        last_io = link.last_io
        limited = bool(link.call("SISMEMBER", self._limited_exchanges_key(), exchange))
        # Not a publish: the next publish is confirmed or pipelined as if
        # this check had not been made (see Link.publish).
        link.last_io = last_io
        cache[exchange] = (limited, now)
        return limited

    def _put_direct(self, exchange: str, routing_key: str, message: dict[str, Any]) -> None:
        keys = self.keys
        step = keys.step(self._get_message_priority(message))
        suffix = f"{keys.sep}{step}" if step else ""
        self.link.publish(
            "EVALSHA",
            scripts.PUBLISH_DIRECT.sha,
            1,
            keys.binding_key(exchange),
            routing_key,
            _dumps(message),
            keys.prefix,
            suffix,
            keys.sep,
        )

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """LPUSH ``message`` on ``queue`` (priority sub-list), pipelined."""
        if self._policies.get(queue, UNKNOWN) is UNKNOWN:
            # First publish to a queue this process never declared: its
            # length limit may have been declared elsewhere.
            policy = self._policy(queue)
            if policy is not None and policy.limited:
                self._put_limited(queue, message, **kwargs)
                return
        keys = self.keys
        key = keys.queue_key(queue, self._get_message_priority(message))
        expires = self._expires.get(queue)
        if expires is None:
            self.link.publish("LPUSH", key, _dumps(message))
        else:
            self.link.send_many([("LPUSH", key, _dumps(message)), *self._expire_commands(queue, expires)])

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        """PUBLISH on Kombu 5's fanout channel (pipelined)."""
        self.link.publish("PUBLISH", self.keys.fanout_channel(exchange, routing_key), _dumps(message))

    # -- queues -------------------------------------------------------------------
    def _marker(self, queue: str) -> str:
        return f"{self.keys.prefix}_kombu.queue.{queue}"

    def _arguments_key(self, queue: str) -> str:
        return f"{self.keys.prefix}_kombu.arguments.{queue}"

    def _expire_commands(self, queue: str, ms: int) -> list[tuple[Any, ...]]:
        keys = [*self.keys.queue_keys(queue), self._marker(queue), self._arguments_key(queue)]
        return [("PEXPIRE", k, ms) for k in keys]

    def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None:
        """Keep ``queue``'s policy arguments in Redis for every process (Kombu 5.7 ignores the key).

        The key ``_kombu.arguments.<queue>`` holds them as JSON; it expires
        and is deleted with the queue, and a redeclare without policy
        arguments removes it (:meth:`_new_queue`).
        """
        key = self._arguments_key(queue)
        value = _dumps(dict(arguments), default=str)
        expires = self._expires.get(queue)
        if expires is None:
            self.link.call("SET", key, value)
        else:
            self.link.call("SET", key, value, "PX", expires)

    def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        """The arguments :meth:`_store_queue_arguments` kept for ``queue``, or ``None``."""
        raw = self.link.call("GET", self._arguments_key(queue))
        if raw is None:
            return None
        arguments = _loads(raw)
        return arguments if isinstance(arguments, dict) else None

    def _new_queue(self, queue: str, auto_delete: bool = False, **kwargs: Any) -> None:
        """Mark ``queue`` as declared (so a passive declare of an empty queue works)."""
        expires = _queue_expires(kwargs.get("arguments"))
        marker = self._marker(queue)
        # A declaration replaces the stored policy arguments (if it has any,
        # _store_queue_arguments writes them next).
        forget = [("DEL", self._arguments_key(queue))] if "arguments" in kwargs else []
        if expires is None:
            self._expires.pop(queue, None)
            self.link.call_many([("SET", marker, "1"), ("PERSIST", marker), *forget])
        else:
            self._expires[queue] = expires
            self.link.call_many([("SET", marker, "1", "PX", expires), *forget, *self._expire_commands(queue, expires)])

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        keys = [self._marker(queue), *self.keys.queue_keys(queue)]
        return bool(self.link.call("EXISTS", *keys))

    def _size(self, queue: str) -> int:
        replies = self.link.call_many([("LLEN", k) for k in self.keys.queue_keys(queue)])
        return sum(r for r in replies if isinstance(r, int))

    def _purge(self, queue: str) -> int:
        cmds: list[tuple[Any, ...]] = []
        for k in self.keys.queue_keys(queue):
            cmds += [("LLEN", k), ("DEL", k)]
        replies = self.link.call_many(cmds)
        return sum(r for r in replies[::2] if isinstance(r, int))

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Delete ``queue``'s lists; with a binding (``exchange, rk, pattern, q``) drop it too."""
        cmds: list[tuple[Any, ...]] = []
        if args:
            exchange, routing_key, pattern = args[0], args[1], args[2]
            member = self.keys.binding_member(routing_key, pattern, queue)
            cmds += [
                ("SREM", self.keys.binding_key(exchange), member),
                ("SREM", self.keys.binding_permanent_key(exchange), member),
            ]
        cmds += [("DEL", *self.keys.queue_keys(queue), self._marker(queue), self._arguments_key(queue))]
        self._expires.pop(queue, None)
        self.link.call_many(cmds)

    # -- bindings -------------------------------------------------------------------
    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        keys = self.keys
        member = keys.binding_member(routing_key, pattern, queue)
        if queue in self._limits:
            # Publishers everywhere stop routing this exchange on the server.
            self.link.call("SADD", self._limited_exchanges_key(), exchange)
            self.connection.limited_exchanges[exchange] = (True, time.monotonic())
        expires = self._expires.get(queue)
        if expires is None:
            self.link.call_many(
                [("SADD", keys.binding_key(exchange), member), ("SADD", keys.binding_permanent_key(exchange), member)]
            )
        else:
            self.link.evalsha(
                scripts.BIND_EXPIRING,
                [keys.binding_key(exchange), keys.binding_deadlines_key],
                [member, exchange, binding_ttl(expires)],
            )

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        keys = self.keys
        member = keys.binding_member(routing_key, pattern, queue)
        self.link.call_many(
            [("SREM", keys.binding_key(exchange), member), ("SREM", keys.binding_permanent_key(exchange), member)]
        )

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        """The bindings of ``exchange`` as stored in Redis (every process's)."""
        members = self.link.call("SMEMBERS", self.keys.binding_key(exchange)) or ()
        table = []
        for m in members:
            entry = self.keys.parse_binding(m)
            if entry is not None:
                table.append(entry)
        table.sort()
        return table

    # -- fetching -----------------------------------------------------------------------
    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        while True:
            raw = self._fetch_one(queue, record=False)
            if raw is None:
                raise Empty()
            payload = _envelope(raw)
            if payload is not None:
                return payload
            drop_unparseable(self.connection, queue, raw, False)

    def _fetch_one(self, queue: str, record: bool) -> str | bytes | None:
        self.connection.flush_acks()
        keys = self.keys
        out = self.link.call(
            "EVALSHA",
            scripts.FETCH.sha,
            2 + len(keys.steps),
            keys.unacked_key,
            keys.unacked_index_key,
            *keys.queue_keys(queue),
            1,
            repr(time.time()),
            "1" if record else "0",
        )
        if not out:
            return None
        raw = out[1]
        self._touch_expiring(queue)
        return raw  # type: ignore[no-any-return]

    def refresh_expiring(self) -> None:
        """Keep consumed expiring queues and their binding tables alive.

        A consumed queue is in use: its lists and marker get their
        ``x-expires`` again, and its bindings' deadlines in Kombu 5.7's
        ``_kombu.binding_deadlines`` are pushed out, so that neither expiry
        nor Kombu 5.7's binding sweep removes what a live consumer uses.
        """
        keys = self.keys
        for queue in self._active_queues:
            expires = self._expires.get(queue)
            if expires is None:
                continue
            self.link.send_many(self._expire_commands(queue, expires))
            for exchange, routing_key, args in self.state.queue_bindings(queue):
                _, pattern, _ = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, args)
                member = keys.binding_member(routing_key, pattern, queue)
                self.link.send(
                    "EVALSHA",
                    scripts.BIND_EXPIRING.sha,
                    2,
                    keys.binding_key(exchange),
                    keys.binding_deadlines_key,
                    member,
                    exchange,
                    binding_ttl(expires),
                )

    def _touch_expiring(self, queue: str) -> None:
        expires = self._expires.get(queue)
        if expires is not None:
            self.link.send_many(self._expire_commands(queue, expires))

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        """Take one message; unless ``no_ack`` it is recorded as unacked atomically."""
        while True:
            raw = self._fetch_one(queue, record=not no_ack)
            if raw is None:
                return None
            payload = _envelope(raw)
            if payload is not None:
                break
            drop_unparseable(self.connection, queue, raw, not no_ack)
        text = raw.decode() if isinstance(raw, bytes) else raw
        message = self.Message(payload, channel=self)
        message.queue = queue
        if not no_ack:
            self._inflight[message.delivery_tag] = (queue, text)
            self.qos.append(message, message.delivery_tag)
        return message

    def queue_is_no_ack(self, queue: str) -> bool:
        """Whether every consumer of ``queue`` on this channel is ``no_ack``."""
        tags = [t for t, q in self._tag_to_queue.items() if q == queue]
        return bool(tags) and all(t in self.no_ack_consumers for t in tags)

    def accept_fetched(self, queue: str, raw: str | bytes, recorded: bool) -> None:
        """Buffer a fetched message for delivery (called by the transport).

        A stored value that is not a Kombu envelope (not UTF-8, not JSON,
        not an object with ``properties.delivery_tag``) is dropped for good:
        its unacked record, if the fetch made one, is removed with it, so it
        never comes back after ``visibility_timeout``; it is logged once.
        """
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
            payload = _loads(text)
            tag = payload["properties"]["delivery_tag"]
        except (ValueError, KeyError, TypeError):
            drop_unparseable(self.connection, queue, raw, recorded)
            return
        if recorded:
            self._inflight[tag] = (queue, text)
        else:
            tag = None
        self._buffer.append((queue, payload, tag))

    def deliver_buffered(self, limit: int | None = None) -> int:
        """Deliver buffered messages while the prefetch window allows; how many."""
        n = 0
        buf = self._buffer
        qos = self.qos
        deliver = self._deliver
        while buf and (limit is None or n < limit):
            if not qos.can_consume():
                break
            queue, payload, _tag = buf.popleft()
            deliver(payload, queue)
            n += 1
        return n

    def window(self) -> int | None:
        """How many more messages may be fetched now (``None``: unlimited)."""
        est = self.qos.can_consume_max_estimate()
        if est is None:
            return None
        return max(est - len(self._buffer), 0)

    # -- acks and restores --------------------------------------------------------------
    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        self._forget([m.delivery_tag for m in messages])

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Give recorded deliveries back: a requeue at the back, the rest at the head.

        The back is Kombu 5's place for a requeue (LPUSH), so messages
        requeued one by one come back in the order they were delivered. A
        message without a record (fetched for a ``no_ack`` consumer) is
        pushed back as a copy.
        """
        held: list[Any] = []
        unrecorded = []
        for message in messages:
            if message.delivery_tag in self._inflight:
                held.append(message.delivery_tag)
            else:
                unrecorded.append(message)
        if held:
            self._give_back(held, head=not rejected)
        for message in unrecorded:
            if message.queue:
                self._put(message.queue, _loads(mark_redelivered(_dumps(message.serializable()))))

    def _forget(self, tags: Iterable[Any]) -> None:
        """Drop the records of acked/rejected deliveries (batched, pipelined)."""
        inflight = self._inflight
        dead = [t for t in tags if inflight.pop(t, None) is not None]
        if dead:
            self.connection.queue_acks(dead)

    def _give_back(self, tags: Iterable[Any], head: bool = True) -> int:
        """Restore held deliveries to the queues they came from, each at most once."""
        entries = []
        for tag in tags:
            held = self._inflight.pop(tag, None)
            if held is not None:
                entries.append((tag, held[0], held[1]))
        return self.connection.restore_entries(entries, head=head)

    def _restore(self, message: Any) -> None:
        self._release_deliveries([message], rejected=False)

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)

    def give_back_buffer(self, queue: str | None = None) -> None:
        """Return buffered (fetched, undelivered) messages of ``queue`` (all if None)."""
        keep: deque[tuple[str, dict[str, Any], str | None]] = deque()
        back = []
        for entry in self._buffer:
            if queue is None or entry[0] == queue:
                back.append(entry)
            else:
                keep.append(entry)
        self._buffer = keep
        recorded = [e[2] for e in back if e[2] is not None]
        if recorded:
            self._give_back(recorded, head=True)
        unrecorded = [e for e in back if e[2] is None]
        for q, payload, _ in reversed(unrecorded):
            self.link.send("RPUSH", self.keys.queue_key(q, self._get_message_priority(payload)), _dumps(payload))

    def basic_cancel(self, consumer_tag: str) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self.give_back_buffer(queue)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.give_back_buffer()
            super().close()
            self.connection.flush_acks()
        finally:
            self._inflight.clear()


def drop_unparseable(transport: Transport, queue: str, raw: str | bytes, recorded: bool) -> None:
    """Drop a fetched value that is not a Kombu envelope, with its unacked record; log it once.

    The fetch script records any value Lua's JSON reader accepts (it does
    not check UTF-8), so the record is found by the delivery tag read the
    same lenient way and removed; nothing is left to be restored later.
    """
    tag = _lenient_tag(raw)
    if recorded and tag is not None:
        keys = transport.keys
        field = tag.encode("utf-8", "surrogateescape")
        transport.link.send_many([("HDEL", keys.unacked_key, field), ("ZREM", keys.unacked_index_key, field)])
    logger.error(
        "redis: dropped a stored value from queue %r that is not a Kombu envelope (delivery tag %r): %.200r",
        queue,
        tag,
        raw,
    )


def _envelope(raw: str | bytes) -> dict[str, Any] | None:
    """``raw`` as a Kombu envelope (an object with a ``properties`` object), or ``None``."""
    try:
        payload = _loads(raw.decode() if isinstance(raw, bytes) else raw)
        if (
            isinstance(payload, dict)
            and isinstance(payload["properties"], dict)
            and "delivery_tag" in payload["properties"]
        ):
            return payload
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _lenient_tag(raw: str | bytes) -> str | None:
    """The delivery tag of ``raw`` read as Lua reads it (bytes kept), or ``None``."""
    try:
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        tag = _loads(text)["properties"]["delivery_tag"]
    except (ValueError, KeyError, TypeError):
        return None
    return tag if isinstance(tag, str) else None


def _queue_expires(arguments: Any) -> int | None:
    try:
        value = arguments["x-expires"]
    except (KeyError, TypeError):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def binding_ttl(expires_ms: int) -> int:
    """Kombu 5.7's binding-table lifetime for a queue expiring after ``expires_ms``."""
    return max(expires_ms * 2, 60 * 60 * 1000)
