"""Getting messages to consumers: batched fetch, blocking wait, PUB/SUB.

:class:`Poller` belongs to one transport (one ``kombu.Connection``) and
serves all its channels:

* **Fetch** (busy path): one ``FETCH`` script call per channel takes up to
  the channel's prefetch window off its queues *and* records each message as
  unacked, atomically, in one round trip (pipelined with the pending acks).
* **Wait** (idle path): when nothing could be fetched, a ``BRPOP`` on a
  second connection waits for the first message of any consumed queue,
  while the PUB/SUB connection waits for fanout broadcasts. A message taken
  by ``BRPOP`` is recorded as unacked with the next command on the command
  link, before it is handed to the application (Kombu 5 has the same short
  window between the pop and the record). When the wait ends without a
  ``BRPOP`` answer, ``CLIENT UNBLOCK`` cancels it and its answer is read,
  so no message is ever left in a half-read reply.
* **Fanout**: ``PSUBSCRIBE`` to Kombu 5's channel names of every fanout
  exchange a consumed queue is bound to; each broadcast is recorded (with a
  fresh delivery tag per queue copy) and delivered to each such queue.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

from redis import exceptions as rexc

from . import scripts
from .channel import drop_unparseable
from .client_path import take_connection
from .link import Pending
from .pubsub import PubSubMixin

if TYPE_CHECKING:
    from .channel import Channel
    from .transport import Transport

__all__ = ("Poller",)

_dumps = json.dumps


class Poller(PubSubMixin):
    """Fetches, waits for and receives messages for a transport's consumers."""

    #: Most messages one FETCH call takes when prefetch is unlimited.
    fetch_max = 100

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.keys = transport.keys
        self.block_conn: Any = None
        self._block_id: int | None = None
        self._brpop_keys: list[str] | None = None  # outstanding BRPOP's keys
        self.sub_conn: Any = None
        self._patterns: set[str] = set()
        self._rr = 0
        self._brpop_sent_at = 0.0
        self._sub_last_read = time.monotonic()
        self._sub_ping_at: float | None = None
        #: FETCH calls sent and not yet answered.
        self.fetch_pending = 0
        self._fetch_got = False

    # -- bookkeeping -------------------------------------------------------------
    def consuming(self) -> list[Channel]:
        channels = cast("list[Channel]", self.transport.channels)
        return [c for c in channels if c._active_queues and not c.closed]

    def fanout_targets(self) -> dict[str, list[tuple[Channel, str]]]:
        """exchange -> [(channel, queue)] for consumed queues bound to fanout exchanges."""
        out: dict[str, list[tuple[Channel, str]]] = {}
        for ch in self.consuming():
            for queue in ch._active_queues:
                for exchange, _rk, _args in ch.state.queue_bindings(queue):
                    if ch.typeof(exchange).type == "fanout":
                        out.setdefault(exchange, []).append((ch, queue))
        return out

    # -- delivery ---------------------------------------------------------------
    def deliver_buffered(self, limit: int | None = None) -> bool:
        """Deliver buffered messages (at most ``limit`` in all); whether any was."""
        delivered = 0
        for ch in self.consuming():
            if ch._buffer:
                delivered += ch.deliver_buffered(None if limit is None else limit - delivered)
                if limit is not None and delivered >= limit:
                    break
        return delivered > 0

    def send_fetch(self) -> bool:
        """Ask for up to each consuming channel's window of messages (pipelined).

        Returns whether a fetch was sent; its answer is read by
        :meth:`read_fetch` (or any later read on the link) and buffered in
        the channels.
        """
        transport = self.transport
        plans: list[tuple[Channel, list[str], bool]] = []
        cmds: list[tuple[Any, ...]] = []
        now = repr(time.time())
        keys = self.keys
        for ch in self.consuming():
            if ch._buffer:
                continue
            window = ch.window()
            if window == 0:
                continue
            want = self.fetch_max if window is None else min(window, self.fetch_max)
            queues = list(ch._active_queues)
            if len(queues) > 1:
                strategy = self.transport.queue_order_strategy
                if strategy == "sorted":
                    queues.sort()
                elif strategy != "priority":  # round_robin (Kombu's default)
                    k = self._rr % len(queues)
                    queues = queues[k:] + queues[:k]
                    self._rr += 1
            groups: dict[bool, list[str]] = {}
            for q in queues:
                groups.setdefault(not ch.queue_is_no_ack(q), []).append(q)
            for record, qs in groups.items():
                lists = [k for q in qs for k in keys.queue_keys(q)]
                plans.append((ch, qs, record))
                cmds.append(
                    (
                        "EVALSHA",
                        scripts.FETCH.sha,
                        2 + len(lists),
                        keys.unacked_key,
                        keys.unacked_index_key,
                        *lists,
                        want,
                        now,
                        "1" if record else "0",
                    )
                )
        if not cmds:
            return False
        link = transport.link
        entries = [Pending(c, None, True) for c in transport.take_ack_commands()]
        entries += [
            Pending(cmd, _FetchReply(self, ch, record), False)
            for (ch, _qs, record), cmd in zip(plans, cmds, strict=True)
        ]
        self.fetch_pending += len(cmds)
        self._fetch_got = False
        try:
            link.send_batch(entries)  # acks and fetches: one socket write
        except BaseException:
            self.fetch_pending = 0
            raise
        return True

    def fetch(self) -> bool:
        """Fetch now and wait for the answers; whether any message came."""
        if not self.send_fetch():
            return False
        self.transport.link.flush()
        return self._fetch_got

    def read_fetch(self, timeout: float) -> None:
        """Read the answers of sent fetches that arrive within ``timeout`` seconds.

        A fetch still unanswered then stays pending (a stalled network must
        not hang ``drain_events``); its answer is read later, in order.
        """
        link = self.transport.link
        conn = link.conn
        if not any(isinstance(p.callback, _FetchReply) for p in link.pending):
            # Lost with a broken connection, or answered with an error.
            self.fetch_pending = 0
            link.flush()
            return
        try:
            if conn is None or not link.path.connected(conn):
                link.flush()
                return
            if not link.path.wait([conn], timeout):
                return
            while self.fetch_pending and link.pending:
                link._read_one(False)
                if self.fetch_pending and not conn.can_read(0):
                    break
        except BaseException:
            self.fetch_pending = 0
            raise
        if self.fetch_pending and not any(isinstance(p.callback, _FetchReply) for p in link.pending):
            self.fetch_pending = 0
            link.flush()

    def _on_fetch(self, ch: Channel, record: bool, reply: Any) -> None:
        self.fetch_pending = max(self.fetch_pending - 1, 0)
        if not reply or ch.closed:
            if reply and ch.closed:  # recorded but undeliverable: give back
                for i in range(0, len(reply), 2):
                    self._accept_popped(self.keys.queue_of_key(_text(reply[i])), reply[i + 1], recorded=record)
            return
        self._fetch_got = True
        keys = self.keys
        for i in range(0, len(reply), 2):
            ch.accept_fetched(keys.queue_of_key(_text(reply[i])), reply[i + 1], record)

    # -- waiting ------------------------------------------------------------------
    def _block(self) -> Any:
        conn = self.block_conn
        if conn is None:
            conn = self.block_conn = take_connection(self.transport.pool)
        if not self.transport.client_path.connected(conn):
            conn.connect()
            self._block_id = None
            self._brpop_keys = None
        if self._block_id is None:
            conn.send_command("CLIENT", "ID", check_health=False)
            self._block_id = int(conn.read_response())
        return conn

    def brpop_keys(self) -> list[str]:
        """Keys to wait on: priority-major over the queues of channels with room."""
        per_queue: list[list[str]] = []
        seen: set[str] = set()
        for ch in self.consuming():
            if ch.window() == 0 or ch._buffer:
                continue
            for q in ch._active_queues:
                if q not in seen:
                    seen.add(q)
                    per_queue.append(self.keys.queue_keys(q))
        return [k for level in zip(*per_queue, strict=True) for k in level] if per_queue else []

    def start_brpop(self, timeout: float) -> Any:
        """Send BRPOP (if not already outstanding); return the connection or None."""
        keys = self.brpop_keys()
        if self._brpop_keys is not None:
            if self._brpop_keys == keys:
                return self.block_conn
            self.cancel_brpop()
        if not keys:
            return None
        conn = self._block()
        conn.send_command("BRPOP", *keys, f"{max(timeout, 0.01):.3f}", check_health=False)
        self._brpop_keys = keys
        self._brpop_sent_at = time.monotonic()
        return conn

    def read_brpop(self) -> bool:
        """Read the outstanding BRPOP answer; buffer its message; whether one came."""
        conn = self.block_conn
        self._brpop_keys = None
        try:
            reply = conn.read_response()
        except BaseException:
            self._block_id = None
            raise
        if not reply:
            return False
        key, raw = reply
        key = key.decode() if isinstance(key, bytes) else key
        self._accept_popped(self.keys.queue_of_key(key), raw)
        return True

    def cancel_brpop(self) -> bool:
        """Cancel an outstanding BRPOP and read its answer (it may carry a message)."""
        if self._brpop_keys is None or self.block_conn is None:
            self._brpop_keys = None
            return False
        try:
            if self._block_id is not None and not self.block_conn.can_read(0):
                self.transport.link.call("CLIENT", "UNBLOCK", self._block_id)
            return self.read_brpop()
        except self.transport.connection_errors:
            self._drop_block()
            return False

    def _drop_block(self) -> None:
        self._brpop_keys = None
        self._block_id = None
        if self.block_conn is not None:
            self.block_conn.disconnect()

    def _accept_popped(self, queue: str, raw: bytes | str, recorded: bool = False) -> None:
        """Buffer a popped message for its consumer, recording it (pipelined) if needed."""
        owner = None
        for ch in self.consuming():
            if queue in ch._active_queues:
                owner = ch
                break
        try:
            text: str | bytes = raw.decode() if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            text = raw  # not an envelope: accept_fetched drops it
        if owner is None:  # consumer went away: straight back to the head
            if recorded:
                tag = _tag(text)
                if tag is None or not isinstance(text, str):
                    drop_unparseable(self.transport, queue, raw, recorded)
                    return
                self.transport.restore_entries([(tag, queue, text)], head=True)
                return
            self.transport.link.send("RPUSH", self.keys.queue_key(queue, _priority(text)), text)
            return
        record = not owner.queue_is_no_ack(queue)
        if record and not recorded and isinstance(text, str):
            self._record([text])
        owner.accept_fetched(queue, text, record)

    def _record(self, texts: list[str], envelopes: list[dict[str, Any]] | None = None) -> None:
        args: list[Any] = [repr(time.time())]
        for text in texts:
            try:
                env = json.loads(text)
                props = env["properties"]
                info = props.get("delivery_info") or {}
                value = f"[{text},{_dumps(info.get('exchange', ''))},{_dumps(info.get('routing_key', ''))}]"
                args += [props["delivery_tag"], value]
            except (ValueError, KeyError, TypeError):
                continue
        if len(args) > 1:
            keys = self.keys
            self.transport.link.send("EVALSHA", scripts.RECORD.sha, 2, keys.unacked_key, keys.unacked_index_key, *args)

    # -- the wait ---------------------------------------------------------------------------
    def brpop_outstanding(self) -> bool:
        return self._brpop_keys is not None and self.block_conn is not None

    def poll_brpop(self) -> bool:
        """Read the outstanding BRPOP answer if it already arrived; whether a message came."""
        conn = self.block_conn
        if self._brpop_keys is None or conn is None or not self.transport.client_path.connected(conn):
            return False
        if conn.can_read(0):
            return self.read_brpop()
        return False

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a message; buffer it; whether one came.

        The BRPOP stays outstanding when the wait ends first: its answer is
        read by a later wait (never dropped, it may carry a popped message).
        With ``wait_for_messages="notify"`` nothing is popped while waiting:
        a keyspace notification of a consumed list wakes the wait and the
        next fetch takes (and records) the messages atomically.
        """
        notify = self.transport.notify_mode()
        block = None if notify else self.start_brpop(self.transport.brpop_timeout)
        sub = self.sync_subscriptions()
        if notify and self.subscribed_new:
            # Just subscribed: a push may have come before; fetch again first.
            self.subscribed_new = False
            return False
        self.transport.flush_acks()
        self.transport.link._read_available()
        conns = [c for c in (sub, block) if c is not None]
        if not conns:
            time.sleep(min(timeout, 0.1))
            return False
        got = False
        if sub is not None and sub.can_read(0):
            ready = [sub]
        elif block is not None and block.can_read(0):
            ready = [block]
        else:
            ready = self.transport.client_path.wait(conns, timeout)
        if sub is not None and any(c is sub for c in ready):
            got = self.read_pubsub()
        if block is not None and any(c is block for c in ready):
            got = self.read_brpop() or got
        if not ready:
            self._check_health(block, sub)
        return got

    def _check_health(self, block: Any, sub: Any) -> None:
        """Find connections that stopped answering (half-open, partitioned).

        A BRPOP is answered by the server after ``brpop_timeout`` at the
        latest; the PUB/SUB connection answers a PING. Silence longer than
        ``health_check_interval`` beyond that means the connection is dead:
        it is dropped and a connection error raised, so that the
        application reconnects instead of waiting forever.
        """
        interval = self.transport.conninfo.health_check_interval
        if not interval:
            return
        now = time.monotonic()
        if (
            block is not None
            and self._brpop_keys is not None
            and now - self._brpop_sent_at > self.transport.brpop_timeout + interval
        ):
            self._drop_block()
            raise rexc.ConnectionError(f"Redis did not answer BRPOP for {interval:.0f}s (health check)")
        if sub is not None:
            if self._sub_ping_at is None:
                if now - self._sub_last_read > interval:
                    sub.send_command("PING", check_health=False)
                    self._sub_ping_at = now
            elif now - self._sub_ping_at > interval:
                self._patterns = set()
                self._sub_ping_at = None
                sub.disconnect()
                raise rexc.ConnectionError(f"Redis did not answer PING on PUB/SUB for {interval:.0f}s (health check)")

    def close(self) -> None:
        try:
            self.cancel_brpop()
        except Exception:  # noqa: BLE001 - closing
            pass
        for attr in ("block_conn", "sub_conn"):
            conn = getattr(self, attr)
            setattr(self, attr, None)
            if conn is not None:
                try:
                    conn.disconnect()
                finally:
                    try:
                        self.transport.pool.release(conn)
                    except Exception:  # noqa: BLE001
                        pass
        self._patterns = set()
        self._brpop_keys = None
        self._block_id = None


class _FetchReply:
    """Callback of one FETCH: buffers its messages in the channel."""

    __slots__ = ("poller", "ch", "record")

    def __init__(self, poller: Poller, ch: Channel, record: bool) -> None:
        self.poller = poller
        self.ch = ch
        self.record = record

    def __call__(self, reply: Any) -> None:
        self.poller._on_fetch(self.ch, self.record, reply)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _tag(text: str | bytes) -> str | None:
    try:
        tag = json.loads(text)["properties"]["delivery_tag"]
    except (ValueError, KeyError, TypeError):
        return None
    return tag if isinstance(tag, str) else None


def _priority(text: str | bytes) -> int:
    try:
        return int(json.loads(text)["properties"].get("priority") or 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0
