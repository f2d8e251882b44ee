"""Fanout over PUB/SUB: subscribing to Kombu 5's channels and taking broadcasts in.

Part of :class:`kombu_transport_redis.consumer.Poller`. The PUB/SUB
connection subscribes (``PSUBSCRIBE``) to the channels of every fanout
exchange a consumed queue is bound to: ``/{db}.<exchange>`` and
``/{db}.<exchange>/*``, so a broadcast is received whatever routing key it
was published with. Each broadcast is delivered to every such queue of this
connection as its own delivery (fresh delivery tag), recorded as unacked
like any other delivery.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from .client_path import take_connection
from .keys import glob_escape

if TYPE_CHECKING:
    from .channel import Channel
    from .keys import KeyLayout
    from .transport import Transport

__all__ = ("PubSubMixin",)

logger = logging.getLogger(__name__)

_dumps = json.dumps


class PubSubMixin:
    """The PUB/SUB half of the poller."""

    transport: Transport
    keys: KeyLayout
    sub_conn: Any
    _patterns: set[str]
    _sub_last_read: float
    _sub_ping_at: float | None
    subscribed_new: bool = False
    #: A fanout subscription was confirmed since the last drain (an event
    #: for ``drain_events``, as in Kombu 5: see ``Transport._drain``).
    subscribed_event: bool = False
    #: (channel id, queue) of the fanout queues consumed at the last sync.
    _fanout_consumed: set[tuple[int, str]] = frozenset()  # type: ignore[assignment]

    def consuming(self) -> list[Channel]:
        raise NotImplementedError

    def fanout_targets(self) -> dict[str, list[tuple[Channel, str]]]:
        raise NotImplementedError

    def _record(self, texts: list[str]) -> None:
        raise NotImplementedError

    # -- PUB/SUB ------------------------------------------------------------------------
    def _sub(self) -> Any:
        conn = self.sub_conn
        if conn is None:
            conn = self.sub_conn = take_connection(self.transport.pool)
        if not self.transport.client_path.connected(conn):
            conn.connect()
            self._patterns = set()
        return conn

    def sync_subscriptions(self) -> Any:
        """PSUBSCRIBE/PUNSUBSCRIBE so that exactly the needed patterns are active."""
        wanted: set[str] = set()
        consumed: set[tuple[int, str]] = set()
        for exchange, receivers in self.fanout_targets().items():
            wanted.update(self.keys.fanout_patterns_for(exchange))
            consumed.update((id(ch), queue) for ch, queue in receivers)
        started = bool(consumed - self._fanout_consumed)
        self._fanout_consumed = consumed
        if self.transport.notify_mode():
            wanted.update(self.keyspace_patterns())
        if not wanted and self.sub_conn is None:
            return None
        conn = self._sub()
        add = wanted - self._patterns
        drop = self._patterns - wanted
        if add:
            conn.send_command("PSUBSCRIBE", *sorted(add), check_health=False)
        if drop:
            conn.send_command("PUNSUBSCRIBE", *sorted(drop), check_health=False)
        self._patterns = wanted
        self.subscribed_new = bool(add)
        if started and not add:
            self.subscribed_event = True  # already subscribed: nothing to confirm
        return conn if wanted else None

    def keyspace_patterns(self) -> set[str]:
        """Keyspace-notification channels of the lists of every consumed queue with room."""
        base = f"__keyspace@{self.keys.db}__:"
        out: set[str] = set()
        for ch in self.consuming():
            if ch.window() == 0:
                continue
            for queue in ch._active_queues:
                out.update(base + glob_escape(k) for k in self.keys.queue_keys(queue))
        return out

    def read_pubsub(self) -> bool:
        """Read every available PUB/SUB message and buffer it; whether any was a message."""
        conn = self.sub_conn
        got = False
        self._sub_last_read = time.monotonic()
        self._sub_ping_at = None
        targets = None
        while True:
            reply = conn.read_response()
            kind = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
            if kind == "pmessage":
                if targets is None:
                    targets = self.fanout_targets()
                got = self._on_broadcast(reply[2], reply[3], targets) or got
            elif kind == "message":
                if targets is None:
                    targets = self.fanout_targets()
                got = self._on_broadcast(reply[1], reply[2], targets) or got
            elif kind == "psubscribe" and not _text(reply[1]).startswith("__keyspace@"):
                self.subscribed_event = True
            if not conn.can_read(0):
                return got

    def _on_broadcast(self, channel: Any, data: Any, targets: dict[str, list[Any]]) -> bool:
        exchange = self.keys.exchange_of_channel(channel)
        receivers = targets.get(exchange)
        if not receivers or not data:
            return False
        try:
            text = data.decode() if isinstance(data, bytes) else data
            base = json.loads(text)
            if not isinstance(base["properties"], dict):
                raise TypeError("properties is not an object")
        except (ValueError, KeyError, TypeError):
            logger.error(
                "redis: dropped a broadcast on fanout exchange %r that is not a Kombu envelope: %.200r", exchange, data
            )
            return False
        records = []
        for ch, queue in receivers:
            env = json.loads(text) if len(receivers) > 1 else base
            record = not ch.queue_is_no_ack(queue)
            if record:
                # Each queue's copy is its own delivery, with its own tag.
                env["properties"]["delivery_tag"] = str(uuid.uuid4())
            copy = _dumps(env)
            if record:
                records.append(copy)
            ch.accept_fetched(queue, copy, record)
        if records:
            self._record(records)
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
