"""The MongoDB channel: storage primitives and at-least-once bookkeeping.

Acknowledgement contract:

* A fetch *claims* ready messages in one atomic step per document (a
  ``find_one_and_update``, or for a batch an ``update_many`` whose filter
  still requires the message to be ready): the document moves out of its
  queue (``queue`` becomes ``kombu.claimed:<queue>``, see
  :mod:`.layout`) with this channel's ``claim`` token and a ``lease``. Kombu
  5.7 consumers, which fetch ``{queue: <queue>}``, never see a claimed message.
* An ack (or a reject without requeue) deletes the document (the engine's
  QoS calls ``_settle_deliveries``; a requeue or close ``_release_deliveries``). Acks are
  collected and deleted together (``ack_batch`` at a time, and always before
  the next fetch, before waiting, on close and on every lease renewal), so an
  ack costs no round trip of its own; a consumer killed between its ack and
  that deletion gets the message redelivered (at least once, never lost).
* A requeue (or a clean close) puts the message back in its queue with its
  original ``_id`` and priority: in front of everything published after it.
* A dead consumer's claims run out after ``visibility_timeout``; any live
  consumer of the queue then puts them back, each exactly once (the update
  only matches documents still claimed and expired). While the consumer
  lives its :class:`~kombu.transport.virtual.lease.LeaseKeeper` renews them.
* A consumer whose connection was lost never renews its claims again: the
  channel takes a new token (:meth:`Channel.abandon_claims`), so its old
  claims run out even if the application reconnects (or pymongo silently
  reconnects under it), and return to the live consumers. They can still be
  acked (an ack deletes with the token the message was claimed with).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

from kombu.transport import virtual
from kombu.transport.virtual.base import Empty, next_delivery_tag
from kombu.utils.json import dumps, loads
from kombu.utils.uuid import uuid
from pymongo import ReturnDocument

from .layout import claimed, delayed, stored_priority

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Channel", "QoS", "SORT", "BAD_PREFIX")

logger = logging.getLogger(__name__)

#: Highest priority first (Kombu 5.7's ``9 - priority``), then oldest first.
SORT = [("priority", 1), ("_id", 1)]
#: ``queue`` of a message whose envelope cannot be read: kept, out of the way.
BAD_PREFIX = "kombu.unreadable:"
_RELEASE_UNSET = {"claim": "", "lease": "", "batch": ""}


class QoS(virtual.QoS):
    """The engine's prefetch and acks; the claims are settled and released by the channel's hooks."""

    channel: Channel


class Channel(virtual.Channel):
    """A channel of the MongoDB transport."""

    QoS = QoS
    connection: Transport
    #: Bindings are stored in the routing collection (``_queue_bind``) and
    #: fanout copies go to each bound queue (``_put_fanout``).
    supports_fanout = True
    max_priority = 255

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        #: This channel's claims carry this token.
        self.token = uuid()
        self._batches = count(1)
        #: delivery tag -> (document id, queue, claim token) of every claim this channel holds.
        self._held: dict[str, tuple[Any, str, str]] = {}
        #: claimed, not yet delivered, per queue.
        self._buffer: dict[str, deque[dict[str, Any]]] = {}
        #: (document id, claim token) acked, not yet deleted.
        self._pending_acks: list[tuple[Any, str]] = []
        self._ack_lock = threading.Lock()
        self._keeper: Any = None

    @property
    def messages(self) -> Any:
        return self.connection.collection("messages")

    # -- queues ---------------------------------------------------------------------
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        options = {k: v for k, v in kwargs.items() if k in ("durable", "exclusive", "auto_delete", "arguments")}
        arguments = options["arguments"] = dict(options.get("arguments") or {})
        update: dict[str, Any] = {"$set": {"options": options}}
        expires = arguments.get("x-expires")
        if expires is not None:
            update["$set"]["expire_at"] = time.time() + float(expires) / 1000.0
        else:
            update["$unset"] = {"expire_at": ""}
        self.connection.collection("queues").update_one({"_id": queue}, update, upsert=True)
        self.connection.remember_queue(queue, arguments)

    def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None:
        """Already stored by :meth:`_new_queue` (``options.arguments`` of the queue document)."""

    def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None:
        doc = self.connection.collection("queues").find_one({"_id": queue}, {"options": 1})
        if doc is None:
            return None
        arguments = (doc.get("options") or {}).get("arguments")
        return arguments if isinstance(arguments, dict) else None

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        conn = self.connection
        if conn.expire_queue_if_due(queue, self):
            return False
        return bool(
            conn.collection("queues").find_one({"_id": queue}, {"_id": 1})
            or conn.collection("routing").find_one({"queue": queue}, {"_id": 1})
            or self.messages.find_one({"queue": queue}, {"_id": 1})
        )

    def _size(self, queue: str) -> int:
        if not self.connection.calc_queue_size:
            return 0
        return int(self.messages.count_documents({"queue": queue}))

    def _purge(self, queue: str) -> int:
        return int(self.messages.delete_many({"queue": queue}).deleted_count)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        conn = self.connection
        if args:
            # One binding of the queue: (exchange, routing_key, pattern, queue).
            exchange, routing_key, pattern = args[0], args[1], args[2]
            conn.collection("routing").delete_many(
                {"exchange": exchange, "queue": queue, "routing_key": routing_key, "pattern": pattern}
            )
            conn.routes.invalidate(exchange)
            return
        self.messages.delete_many({"queue": {"$in": [queue, claimed(queue), delayed(queue)]}})
        conn.collection("routing").delete_many({"queue": queue})
        conn.collection("queues").delete_one({"_id": queue})
        conn.forget_queue(queue)
        self._buffer.pop(queue, None)
        for tag, (_, q, _token) in list(self._held.items()):
            if q == queue:
                self._held.pop(tag, None)

    # -- bindings -----------------------------------------------------------------------
    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        lookup = {"exchange": exchange, "queue": queue, "routing_key": routing_key, "pattern": pattern}
        self.connection.collection("routing").update_one(
            lookup, {"$set": {**lookup, "exchange_type": self.typeof(exchange).type}}, upsert=True
        )
        self.connection.routes.invalidate(exchange)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        self.connection.collection("routing").delete_many(
            {"exchange": exchange, "queue": queue, "routing_key": routing_key, "pattern": pattern}
        )
        self.connection.routes.invalidate(exchange)

    def queue_unbind(
        self,
        queue: str,
        exchange: str | None = None,
        routing_key: str = "",
        arguments: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Remove a binding, also when another process made it (it is stored)."""
        super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
        exchange = exchange or "amq.direct"
        self.connection.collection("routing").delete_many(
            {"exchange": exchange, "queue": queue, "routing_key": routing_key}
        )
        self.connection.routes.invalidate(exchange)

    # -- exchanges: the type is stored with each binding ------------------------------------
    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        """Nothing to store: each binding document carries ``exchange_type`` (:mod:`.layout`).

        Kombu 5.7's layout has no exchange documents; an exchange is known to
        other processes from its first binding on, which is when it routes.
        """

    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        """The ``exchange_type`` stored with ``exchange``'s bindings (cached, see :mod:`.routes`)."""
        stored = self.connection.routes.exchange_type(exchange)
        return None if stored is None else {"type": stored}

    def _delete_exchange_record(self, exchange: str) -> None:
        """Delete ``exchange``'s stored bindings (also those another process made)."""
        self.connection.collection("routing").delete_many({"exchange": exchange})
        self.connection.routes.invalidate(exchange)

    def get_table(self, exchange: str) -> list[tuple[str, Any, str]]:
        """Bindings of ``exchange``: declared here plus stored in the routing collection."""
        local = self.state.exchanges.get(exchange)
        return self.connection.routes.table(exchange, local["table"] if local is not None else ())

    def _lookup(
        self, exchange: str, routing_key: str, default: str | None = None, headers: Mapping[str, Any] | None = None
    ) -> list[str]:
        queues = super()._lookup(exchange, routing_key, default, headers)
        if not queues and self.connection.routes.may_be_stale(exchange):
            # A binding made by another process since we last read the table.
            self.connection.routes.invalidate(exchange)
            queues = super()._lookup(exchange, routing_key, default, headers)
        return queues

    # -- publishing -----------------------------------------------------------------------
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        props = message["properties"]
        doc: dict[str, Any] = {
            "queue": queue,
            "payload": dumps(message),
            "priority": stored_priority(props.get("priority"), self.connection.max_priority_of(queue)),
        }
        delay = _delay_seconds(message.get("headers"))
        if delay:
            doc["queue"] = delayed(queue)
            doc["not_before"] = time.time() + delay
        self.messages.insert_one(doc)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        """A copy for every queue bound to ``exchange`` (no capped collection needed)."""
        queues = self._lookup(exchange, routing_key, headers=message.get("headers"))
        for i, queue in enumerate(queues):
            self._put(queue, message if i == 0 else self._copy_envelope(message))

    # -- fetching --------------------------------------------------------------------------
    def _no_ack_only(self, queue: str) -> bool:
        tags = [t for t, q in self._tag_to_queue.items() if q == queue]
        return bool(tags) and all(t in self.no_ack_consumers for t in tags)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        buffered = self._buffer.get(queue)
        if buffered:
            return buffered.popleft()
        self.connection.maintain_if_due(queue)
        if self._no_ack_only(queue):
            doc = self.messages.find_one_and_delete({"queue": queue}, sort=SORT)
            if doc is None:
                raise Empty()
            payload = self._to_payload(doc, queue, hold=False)
            if payload is None:
                raise Empty()
            return payload
        # Batches only for a queue this channel consumes (a bare _get, e.g. the
        # engine's drop-head, takes exactly one).
        limit = self.connection.fetch_batch if queue in self._active_queues else 1
        estimate = self.qos.can_consume_max_estimate() if self._qos is not None else None
        if estimate is not None:
            limit = max(1, min(limit, estimate))
        payloads = self._claim(queue, limit)
        if not payloads:
            raise Empty()
        if len(payloads) > 1:
            self._buffer.setdefault(queue, deque()).extend(payloads[1:])
        return payloads[0]

    def _claim(self, queue: str, limit: int) -> list[dict[str, Any]]:
        """Claim up to ``limit`` ready messages of ``queue``; return their envelopes."""
        self._flush_acks()
        messages = self.messages
        token = self.token
        lease = time.time() + self.connection.visibility_timeout
        claim = {"queue": claimed(queue), "claim": token, "lease": lease}
        if limit <= 1:
            doc = messages.find_one_and_update(
                {"queue": queue}, {"$set": claim}, sort=SORT, return_document=ReturnDocument.BEFORE
            )
            docs = [doc] if doc is not None else []
        else:
            docs = list(messages.find({"queue": queue}, sort=SORT, limit=limit))
            if docs:
                batch = next(self._batches)
                ids = [d["_id"] for d in docs]
                done = messages.update_many({"_id": {"$in": ids}, "queue": queue}, {"$set": {**claim, "batch": batch}})
                if done.modified_count != len(ids):
                    # Some were claimed by another consumer meanwhile: keep only ours.
                    docs = list(messages.find({"_id": {"$in": ids}, "claim": token, "batch": batch}, sort=SORT))
        if docs:
            self._start_keeper()
        out = []
        for doc in docs:
            payload = self._to_payload(doc, queue, hold=True, token=token)
            if payload is not None:
                out.append(payload)
        return out

    def _to_payload(self, doc: Mapping[str, Any], queue: str, hold: bool, token: str = "") -> dict[str, Any] | None:
        """The envelope of ``doc`` with a fresh delivery tag (recorded when ``hold``)."""
        try:
            payload: dict[str, Any] = loads(doc["payload"])
            properties = payload["properties"]
            if not isinstance(properties, dict):
                raise TypeError("properties is not an object")
        except Exception as exc:  # noqa: BLE001 - any unreadable envelope is set aside
            logger.error(
                "mongodb: message %s of queue %r has an unreadable envelope (%r); moved to queue %r",
                doc.get("_id"),
                queue,
                exc,
                BAD_PREFIX + queue,
            )
            self.messages.update_one(
                {"_id": doc["_id"]}, {"$set": {"queue": BAD_PREFIX + queue}, "$unset": _RELEASE_UNSET}
            )
            return None
        tag = next_delivery_tag()
        properties["delivery_tag"] = tag
        if not isinstance(properties.get("delivery_info"), dict):
            properties["delivery_info"] = {}
        if doc.get("redelivered"):
            payload["redelivered"] = True
        if hold:
            self._held[tag] = (doc["_id"], queue, token)
        return payload

    # -- acknowledgements -------------------------------------------------------------------
    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        self._settle([m.delivery_tag for m in messages])

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Put claimed deliveries back at their original place; an unclaimed one (no_ack) as a copy."""
        unclaimed = [m for m in messages if m.delivery_tag not in self._held]
        self._release([m.delivery_tag for m in messages])
        for message in unclaimed:
            super()._restore(message)

    def _settle(self, tags: Iterable[Any]) -> None:
        """The application is done with these deliveries: their documents go."""
        ids = [(held[0], held[2]) for held in (self._held.pop(tag, None) for tag in tags) if held is not None]
        if not ids:
            return
        with self._ack_lock:
            self._pending_acks.extend(ids)
            due = len(self._pending_acks) >= self.connection.ack_batch
        if due:
            self._flush_acks()

    def _flush_acks(self) -> None:
        with self._ack_lock:
            ids, self._pending_acks = self._pending_acks, []
        if not ids:
            return
        try:
            for token, group in _by_token(ids).items():
                self.messages.delete_many({"_id": {"$in": group}, "claim": token})
        except BaseException:
            with self._ack_lock:
                self._pending_acks[:0] = ids
            raise

    def _release(self, tags: Iterable[Any]) -> None:
        """Put these deliveries back in their queues, at their original place."""
        by_queue: dict[tuple[str, str], list[Any]] = {}
        for tag in tags:
            held = self._held.pop(tag, None)
            if held is not None:
                by_queue.setdefault((held[1], held[2]), []).append(held[0])
        for (queue, token), ids in by_queue.items():
            self.messages.update_many(
                {"_id": {"$in": ids}, "claim": token},
                {"$set": {"queue": queue, "redelivered": True}, "$unset": _RELEASE_UNSET},
            )

    def _release_buffered(self, queues: Iterable[str] | None = None) -> None:
        for queue in list(self._buffer if queues is None else queues):
            buffered = self._buffer.pop(queue, None)
            if buffered:
                self._release([p["properties"]["delivery_tag"] for p in buffered])

    def _restore(self, message: Any) -> None:
        self._release_deliveries([message], rejected=False)

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)

    # -- leases -------------------------------------------------------------------------------
    def _start_keeper(self) -> None:
        if self._keeper is None:
            from kombu.transport.virtual.lease import LeaseKeeper

            self._keeper = LeaseKeeper(
                self, self.connection.lease_interval, name=f"kombu-mongodb-lease-{self.channel_id}"
            ).start()

    def _lease_messages(self) -> list[Any]:
        """What the lease keeper renews: everything this channel holds or has yet to delete."""
        return list(self._held.values()) or list(self._pending_acks)

    def _renew_leases(self, messages: Any) -> None:
        """Delete what was acked, then extend the claims of this channel's token (one update).

        Nothing is renewed once the connection was lost. pymongo may notice the
        loss only inside the renewal itself (it replaces a dead pooled socket by
        a new connection and carries on): a renewal during which the token
        changed is taken back at once, so those claims return now.
        """
        token = self.token
        if self.connection.lost:
            return  # a lost connection's claims run out, as a broker would release them
        self._flush_acks()
        if not any(held[2] == token for held in list(self._held.values())):
            return
        collection = self.messages
        lease = time.time() + self.connection.visibility_timeout
        collection.update_many({"claim": token}, {"$set": {"lease": lease}})
        if self.token != token:
            # Every claim of the old token is abandoned: all run out now (no
            # equality on the float lease, see quirks.FLOAT_EQUALITY).
            collection.update_many({"claim": token}, {"$set": {"lease": 0.0}})

    def abandon_claims(self) -> None:
        """The connection was lost: never renew the claims made so far (any thread).

        The channel claims under a new token from now on; claimed messages not
        yet delivered are dropped from the buffer (their claims run out).
        """
        self.token = uuid()
        buffered, self._buffer = self._buffer, {}
        for payloads in list(buffered.values()):
            for payload in list(payloads):
                self._held.pop(payload["properties"]["delivery_tag"], None)

    # -- consumers and shutdown ---------------------------------------------------------------
    def basic_cancel(self, consumer_tag: str) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._tag_to_queue.values():
            self._quietly(self._release_buffered, [queue])

    def close(self) -> None:
        if self.closed:
            return
        self._quietly(self._flush_acks)
        super().close()
        self._quietly(self._release_buffered)
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None

    def _quietly(self, fn: Any, *args: Any) -> None:
        """Run ``fn`` where a broker failure must not stop a shutdown (leases then run out)."""
        try:
            fn(*args)
        except self.connection.connection_errors as exc:
            logger.warning(
                "mongodb: %s failed (%r); the claims return after visibility_timeout", getattr(fn, "__name__", fn), exc
            )


def _by_token(ids: Iterable[tuple[Any, str]]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for doc_id, token in ids:
        groups.setdefault(token, []).append(doc_id)
    return groups


def _delay_seconds(headers: Any) -> float:
    """The ``x-delay`` header (milliseconds, as RabbitMQ's delayed-message exchange) in seconds."""
    if not isinstance(headers, dict):
        return 0.0
    value = headers.get("x-delay")
    if value is None:
        return 0.0
    try:
        return max(float(value), 0.0) / 1000.0
    except (TypeError, ValueError):
        return 0.0
