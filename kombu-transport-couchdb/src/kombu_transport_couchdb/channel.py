"""The CouchDB channel: the virtual engine's storage primitives on documents.

Acknowledgement contract (at-least-once), see :mod:`.documents` for the layout:

* A message is *claimed* before the application sees it: its document is
  written back with its ``_rev``, a fresh claim token and ``visible`` set to
  the end of the lease. A conflict means another consumer won it; it is
  skipped. The claim token is the delivery tag.
* The engine's QoS keeps the bookkeeping and calls the channel's storage
  hooks (``_settle_deliveries``, ``_release_deliveries``).
* ``ack`` (and ``reject`` without requeue, and a ``no_ack`` fetch before the
  application sees it) deletes the document with the revision this consumer
  wrote; ``requeue`` and a clean close write it back ready (``visible`` 0,
  ``redelivered``), in its original place in the queue.
  When the revision went stale (a lease renewal raced), the document is read
  again and the operation retried only while it still carries our claim token:
  a message whose lease ran out and was claimed by someone else is left to them.
* While the consumer lives, a :class:`~kombu.transport.virtual.lease.LeaseKeeper`
  thread pushes its leases forward; a consumer that dies (or whose
  connection is cut, :mod:`.leaselink`) stops renewing and its messages
  become visible again when their lease ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from kombu.transport import virtual
from kombu.transport.virtual.base import Empty
from kombu.transport.virtual.lease import LeaseKeeper

from . import documents as docs
from .client import CouchDBError
from .leaselink import LeaseLink, LeaseLost
from .quirks import lost_update

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Channel", "QoS", "Held")

logger = logging.getLogger(__name__)


@dataclass
class Held:
    """A message this channel has claimed (buffered or delivered, not yet settled)."""

    tag: str
    queue: str
    doc: dict[str, Any]
    prior_deliveries: int
    delivered: bool = False
    lost: bool = False


class QoS(virtual.QoS):
    """The engine's prefetch and acks; the channel's storage hooks write the documents."""

    channel: Channel


def _renew_hook(channel: Channel, messages: Sequence[Held]) -> None:
    channel._renew_leases(messages)


class Channel(virtual.Channel):
    """A channel of the CouchDB transport."""

    QoS = QoS
    connection: Transport
    #: Bindings are stored in the database (``_queue_bind``), and fanout
    #: copies are written in one ``_bulk_docs`` (``_put_fanout``).
    supports_fanout = True
    max_priority = docs.MAX_RANK

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._held: dict[str, Held] = {}
        self._buffers: dict[str, deque[Held]] = {}
        self._held_lock = threading.Lock()
        self._pending_acks: list[str] = []
        #: queue -> when due messages were last looked for (:meth:`_restore_due`).
        self._restored: dict[str, float] = {}
        self._keeper: LeaseKeeper | None = None
        self._lease_link: LeaseLink | None = None

    @property
    def client(self) -> Any:
        return self.connection.client_api

    # -- exchanges (the engine's exchange-record hooks) ------------------------------------
    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        """The declaration another process stored in ``kombu.exchange:<exchange>``, or ``None``."""
        doc = self.client.get(docs.exchange_id(exchange))
        if doc is None:
            return None
        return {
            "type": doc.get("type", "direct"),
            "durable": bool(doc.get("durable")),
            "auto_delete": bool(doc.get("auto_delete")),
            "arguments": doc.get("arguments") or {},
        }

    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        """Store the declaration once per connection (again if another process deleted it since)."""
        persisted = self.connection.persisted_exchanges
        if exchange in persisted:
            return
        self.client.put({"_id": docs.exchange_id(exchange), **record}, ok=(201, 202, 409))
        persisted.add(exchange)

    def _delete_exchange_record(self, exchange: str) -> None:
        """Delete the exchange's document and its binding documents."""
        self.connection.persisted_exchanges.discard(exchange)
        self.connection.persisted_bindings.difference_update(
            [b for b in self.connection.persisted_bindings if b[0] == exchange]
        )
        start, end = docs.binding_range(exchange)
        rows = self.client.all_docs(start, end, include_docs=False)
        doc = self.client.get(docs.exchange_id(exchange))
        doomed = [{"_id": r["id"], "_rev": r["value"]["rev"], "_deleted": True} for r in rows]
        if doc is not None:
            doomed.append({"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True})
        self._write_topology(doomed)

    # -- bindings ----------------------------------------------------------------------
    def queue_bind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Bind ``queue`` to ``exchange``; the binding is stored (idempotent)."""
        exchange = exchange or "amq.direct"
        known = self.state.has_binding(queue, exchange, routing_key)
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        meta = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        if known and (exchange, *meta) not in self.connection.persisted_bindings:
            # Known in this process, but not stored by this connection (maybe
            # deleted by another process since).
            self._queue_bind(exchange, *meta)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        (result,) = self._write_topology([docs.binding_doc(exchange, routing_key, pattern, queue)])
        if "error" in result and result["error"] != "conflict":  # a conflict: it is stored already
            raise CouchDBError(f"binding {queue!r} to {exchange!r} not stored: {result['error']}")
        self.connection.persisted_bindings.add((exchange, routing_key, pattern, queue))

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        self.connection.persisted_bindings.discard((exchange, routing_key, pattern, queue))
        doc = self.client.get(docs.binding_id(exchange, routing_key, pattern, queue))
        if doc is not None:
            self._write_topology([{"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True}])

    def _write_topology(self, changes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Write binding (or exchange, queue) documents with the topology epoch; return their results.

        The epoch document rides in the same ``_bulk_docs`` request, so no
        binding change is stored without it: publishers that follow only the
        epoch on the changes feed (:mod:`.watch`) drop their cached tables. If
        the epoch changed since it was read here, it is rewritten once more
        after the batch (the other writer's change may precede this one on
        the feed). This connection's cached tables are dropped at once.
        """
        if not changes:
            return []
        client = self.client
        current = client.get(docs.TOPOLOGY_EPOCH_ID)
        epoch: dict[str, Any] = {"_id": docs.TOPOLOGY_EPOCH_ID, "touched": time.time()}
        if current is not None:
            epoch["_rev"] = current["_rev"]
        results: list[dict[str, Any]] = client.bulk_docs([*changes, epoch])
        self.connection.bindings.invalidate()
        if "error" in results[-1]:
            client.touch(docs.TOPOLOGY_EPOCH_ID)
        return results[:-1]

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        """The bindings of ``exchange`` as stored in the database (every process's).

        Cached until the bindings feed reports a change (:class:`~.watch.BindingCache`).
        """
        transport = self.connection
        return transport.bindings.get(exchange, transport.bindings_ready(), lambda: self._read_table(exchange))

    def _read_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        start, end = docs.binding_range(exchange)
        table = []
        for row in self.client.all_docs(start, end):
            entry = docs.parse_binding(row.get("doc") or {})
            if entry is not None:
                table.append(entry)
        return table

    # -- queues ------------------------------------------------------------------------
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        declared = self.connection.declared_queues
        if queue in declared:
            return
        doc = {"_id": docs.queue_id(queue), "arguments": dict(kwargs.get("arguments") or {})}
        self.client.put(doc, ok=(201, 202, 409))
        declared.add(queue)

    def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None:
        """Keep the policy arguments in the queue's document (every process applies them)."""
        stored = self.connection.stored_arguments
        if stored.get(queue) == dict(arguments):
            return
        doc = self.client.get(docs.queue_id(queue)) or {"_id": docs.queue_id(queue)}
        if doc.get("arguments") != dict(arguments):
            doc["arguments"] = dict(arguments)
            self.client.put(doc, ok=(201, 202, 409))
        stored[queue] = dict(arguments)

    def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        doc = self.client.get(docs.queue_id(queue))
        return None if doc is None else doc.get("arguments")

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        if self.client.get(docs.queue_id(queue)) is not None:
            return True
        client = self.client
        return bool(client.view(*docs.ready_range(queue), limit=1) or client.view(*docs.waiting_range(queue), limit=1))

    def _size(self, queue: str) -> int:
        """Ready messages of ``queue`` (claimed and delayed ones are not counted)."""
        self.connection.flush_acks()
        rows = self.client.view(*docs.ready_range(queue), reduce=True)
        return int(rows[0]["value"]) if rows else 0

    def _purge(self, queue: str) -> int:
        self.connection.flush_acks()
        removed = 0
        while True:
            rows = self.client.view(*docs.ready_range(queue), limit=docs.PAGE)
            if not rows:
                return removed
            results = self.client.bulk_docs([{"_id": r["id"], "_rev": r["value"], "_deleted": True} for r in rows])
            done = sum(1 for r in results if "error" not in r)
            removed += done
            if not done:
                return removed

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Delete ``queue``: with a binding ``(exchange, key, pattern, queue)`` only that one."""
        client = self.client
        if args:
            exchange, routing_key, pattern = args[0], args[1], args[2]
            self._queue_unbind(exchange, routing_key, pattern, queue)
            return
        # Forgotten first: if a write below fails, the next declare stores them again.
        self.connection.declared_queues.discard(queue)
        self.connection.stored_arguments.pop(queue, None)
        self.connection.persisted_bindings.difference_update(
            [b for b in self.connection.persisted_bindings if b[3] == queue]
        )
        for keys in (docs.ready_range(queue), docs.waiting_range(queue)):
            while True:
                rows = client.view(*keys, limit=docs.PAGE)
                if not rows:
                    break
                results = client.bulk_docs([{"_id": r["id"], "_rev": r["value"], "_deleted": True} for r in rows])
                if all("error" in r for r in results):
                    break
        doomed = []
        start, end = "kombu.binding:", "kombu.binding:\ufff0"
        for row in client.all_docs(start, end):
            doc = row.get("doc") or {}
            if doc.get("bound_queue") == queue:
                doomed.append({"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True})
        qdoc = client.get(docs.queue_id(queue))
        if qdoc is not None:
            doomed.append({"_id": qdoc["_id"], "_rev": qdoc["_rev"], "_deleted": True})
        self._write_topology(doomed)
        for held in list(self._buffers.pop(queue, ())):
            with self._held_lock:
                self._held.pop(held.tag, None)

    # -- publishing --------------------------------------------------------------------
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Store ``message`` as a new document of ``queue``."""
        self.client.put(docs.message_doc(queue, message, self.connection.sequence()))

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        """One document per bound queue, written together with ``_bulk_docs``."""
        queues = self._lookup(exchange, routing_key, headers=message.get("headers"))
        if not queues:
            return
        seq = self.connection.sequence()
        batch = [
            docs.message_doc(q, message if i == 0 else self._copy_envelope(message), seq) for i, q in enumerate(queues)
        ]
        results = self.client.bulk_docs(batch)
        failed = [r for r in results if "error" in r]
        if failed:
            raise CouchDBError(
                f"fanout to {exchange!r}: {len(failed)} of {len(batch)} copies not stored ({failed[0].get('error')})"
            )

    # -- claiming and delivering -------------------------------------------------------
    def _batch_size(self) -> int:
        room = self.qos.can_consume_max_estimate()
        batch = self.connection.claim_batch
        return max(1, batch if room is None else min(room, batch))

    def _restore_due(self, queue: str, force: bool = False) -> int:
        """Make ready again the messages of ``queue`` whose lease ran out or delay is over.

        Runs at most every ``restore_interval`` seconds per queue unless
        ``force``. A message back from a lapsed lease keeps its place in the
        queue and is flagged redelivered when claimed again. Returns how many.
        """
        now = time.time()
        last = self._restored.get(queue, 0.0)
        if not force and now - last < self.connection.restore_interval:
            return 0
        self._restored[queue] = now
        rows = self.client.view(*docs.waiting_range(queue, now), limit=docs.PAGE, include_docs=True)
        due = []
        for row in rows:
            doc = row.get("doc")
            if doc and float(doc.get("visible") or 0) <= now:
                due.append({**doc, "visible": 0, "claim": None})
        if not due:
            return 0
        return sum(1 for r in self.client.bulk_docs(due) if "error" not in r)

    def _claim(self, queue: str, limit: int) -> list[Held]:
        """Claim up to ``limit`` ready messages of ``queue`` (MVCC: conflicts are skipped)."""
        client = self.client
        vt = self.connection.visibility_timeout
        self._restore_due(queue)
        for attempt in range(3):
            rows = client.view(*docs.ready_range(queue), limit=limit, include_docs=True)
            # The included document is read after the index: one claimed meanwhile
            # (``visible`` set) is someone else's, whatever its revision.
            found = [row["doc"] for row in rows if row.get("doc") and row["doc"].get("visible") == 0]
            if not found:
                if rows or (attempt == 0 and self._restore_due(queue, force=True)):
                    continue
                return []
            now = time.time()
            updates = []
            for doc in found:
                new = dict(doc)
                new["visible"] = now + vt
                new["claim"] = uuid4().hex
                new["deliveries"] = int(doc.get("deliveries") or 0) + 1
                updates.append(new)
            got = []
            for new, old, result in zip(updates, found, client.bulk_docs(updates), strict=True):
                if "error" in result:
                    continue  # someone else claimed it first
                new["_rev"] = result["rev"]
                got.append(Held(new["claim"], queue, new, int(old.get("deliveries") or 0)))
            if got:
                with self._held_lock:
                    for held in got:
                        self._held[held.tag] = held
                self._ensure_keeper()
                return got
        return []

    def _envelope(self, held: Held) -> dict[str, Any]:
        held.delivered = True
        doc = held.doc
        payload = dict(doc["payload"])
        properties = dict(payload.get("properties") or {})
        properties["delivery_info"] = dict(properties.get("delivery_info") or {})
        properties["delivery_tag"] = held.tag
        payload["properties"] = properties
        if held.prior_deliveries or doc.get("redelivered"):
            payload["redelivered"] = True
        return payload

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        buffer = self._buffers.get(queue)
        if buffer:
            return self._envelope(buffer.popleft())
        if self._pending_acks:
            self.flush_acks()  # settled before claiming more
        # A consumed queue is claimed in batches; basic_get takes one.
        limit = self._batch_size() if queue in self._active_queues else 1
        claimed = self._claim(queue, limit)
        if not claimed:
            raise Empty()
        if len(claimed) > 1:
            self._buffers.setdefault(queue, deque()).extend(claimed[1:])
        return self._envelope(claimed[0])

    def basic_cancel(self, consumer_tag: str) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self._release_buffered(queue)

    # -- the engine's storage hooks ---------------------------------------------------
    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Acked, dropped or no_ack deliveries: their documents are deleted (batched, :meth:`_settle`)."""
        self._settle([m.delivery_tag for m in messages])

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Requeued or given-back deliveries: ready again at their original place (:meth:`_release`).

        A message whose claim this channel does not hold is stored again as a
        copy (the contract's rule), never dropped.
        """
        held = self._held
        unheld = [m for m in messages if m.delivery_tag not in held]
        self._release([m.delivery_tag for m in messages if m.delivery_tag in held])
        for message in unheld:
            super()._restore(message)

    def _restore(self, message: virtual.Message) -> None:
        """Give ``message`` back: its claim is released if held here, else a copy is stored.

        Reached by Kombu 5's delivery path (``Transport._deliver`` for a queue
        nobody consumes); releasing the claim keeps one document per message.
        """
        if message.delivery_tag in self._held:
            self._release([message.delivery_tag])
        else:
            super()._restore(message)

    # -- claims settled and released ------------------------------------------------
    def _take_held(self, tags: Iterable[Any]) -> list[Held]:
        with self._held_lock:
            return [h for h in (self._held.pop(t, None) for t in tags) if h is not None]

    def _settle(self, tags: Sequence[Any]) -> None:
        """Delete the documents of acked (or dropped) deliveries, batched by the transport."""
        self._pending_acks.extend(tags)
        self.connection.room_freed()
        if not self.connection.delivering or len(self._pending_acks) >= self.connection.ack_batch:
            self.flush_acks()

    def flush_acks(self) -> None:
        tags, self._pending_acks = self._pending_acks, []
        held = self._take_held(tags)
        if not held:
            return
        self._write_back(held, lambda h, doc: {"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True})

    def _release(self, tags: Sequence[Any]) -> None:
        """Make claimed messages ready again, at their original place in the queue."""
        self.flush_acks()
        self.connection.room_freed()
        held = self._take_held(tags)
        for buffer in self._buffers.values():
            if buffer:
                keep = [h for h in buffer if h.tag not in tags]
                buffer.clear()
                buffer.extend(keep)
        self._write_back(held, _released)

    def _release_buffered(self, queue: str) -> None:
        buffer = self._buffers.pop(queue, None)
        if buffer:
            self._write_back(self._take_held(h.tag for h in buffer), _released)

    def _write_back(self, held: list[Held], change: Any) -> None:
        """Write ``change(held, doc)`` for each delivery; retry stale revisions we still own."""
        if not held:
            return
        client = self.client
        results = client.bulk_docs([change(h, h.doc) for h in held])
        retry = [h for h, r in zip(held, results, strict=True) if "error" in r and lost_update(r)]
        for h in retry:
            current = client.get(h.doc["_id"])
            if current is None or current.get("claim") != h.tag:
                logger.warning(
                    "couchdb: lease of message %s in %r ran out before it was settled; it may be delivered again",
                    h.doc["_id"],
                    h.queue,
                )
                continue
            client.bulk_docs([change(h, current)])

    # -- leases --------------------------------------------------------------------------
    def _ensure_keeper(self) -> None:
        link = self._lease_link
        if link is None or link.lost:
            link = LeaseLink(self.connection.conninfo)
            link.connect()  # opened now, so that a cut of this consumer's network is seen
            self._lease_link = link
        keeper = self._keeper
        if keeper is not None and keeper.running:
            return
        interval = self.connection.lease_interval or max(self.connection.visibility_timeout / 3, 0.05)
        self._keeper = LeaseKeeper(
            self, interval, renew=_renew_hook, name=f"kombu-couchdb-lease-{self.channel_id}"
        ).start()

    def link_alive(self) -> bool:
        """Whether this channel's lease connection (if any) was not cut.

        A cut one is dropped: the leases it held lapse (their messages go to
        other consumers), and the next claim opens a new one.
        """
        link = self._lease_link
        if link is None or link.alive():
            return True
        self._lease_link = None
        return False

    def _lease_messages(self) -> list[Held]:
        with self._held_lock:
            return [h for h in self._held.values() if not h.lost]

    def _renew_leases(self, messages: Sequence[Held]) -> None:
        """Push the leases of ``messages`` forward (runs in the lease keeper's thread)."""
        link = self._lease_link
        if link is None:
            return
        until = time.time() + self.connection.visibility_timeout
        batch = [{**h.doc, "visible": until} for h in messages]
        try:
            results = link.bulk_docs(batch)
        except LeaseLost:
            self.connection.lease_lost(self)
            if self._lease_link is link:
                self._lease_link = None
            raise
        for h, doc, result in zip(messages, batch, results, strict=True):
            if "error" not in result:
                doc["_rev"] = result["rev"]
                with self._held_lock:
                    if self._held.get(h.tag) is h:
                        h.doc = doc
                continue
            current = link.get(doc["_id"])
            with self._held_lock:
                if current is not None and current.get("claim") == h.tag:
                    h.doc = current  # renewed next tick with the current revision
                else:
                    h.lost = True

    def close(self) -> None:
        if self.closed:
            return
        try:
            for queue in list(self._buffers):
                self._release_buffered(queue)
            super().close()
            self.flush_acks()
        finally:
            if self._keeper is not None:
                self._keeper.stop(timeout=1.0)
                self._keeper = None
            if self._lease_link is not None:
                self._lease_link.close()
                self._lease_link = None


def _released(held: Held, doc: dict[str, Any]) -> dict[str, Any]:
    new = dict(doc)
    new["visible"] = 0
    new["claim"] = None
    if held.delivered:
        new["redelivered"] = True
    else:
        new["deliveries"] = held.prior_deliveries
    return new
