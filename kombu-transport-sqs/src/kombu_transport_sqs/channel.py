"""The SQS channel: storage primitives, leases and acknowledgements.

One SQS queue per Kombu queue (named by :mod:`.naming`), the message body
encoded as Kombu 5.7 encodes it (:mod:`.envelope`). Receiving into the
channel's buffer is in :mod:`.receiving`, bindings stored on the server in
:mod:`.bindings`; this module holds the storage primitives and the hooks the
engine calls.

Acknowledgement contract (at-least-once):

* A received message is invisible to other consumers for the queue's
  visibility timeout. While this process holds it (fetched and waiting in
  the channel's buffer, or delivered and not yet acked) a
  :class:`~kombu.transport.virtual.lease.LeaseKeeper` thread extends that
  timeout (``ChangeMessageVisibility``) well before it runs out, so a slow
  consumer never sees its message handed to a second worker.
* The engine's QoS keeps the bookkeeping and calls the channel's storage
  hooks (``_settle_deliveries``, ``_release_deliveries``).
* ``ack`` deletes the message (``DeleteMessageBatch``; acks made inside one
  ``drain_events`` burst leave together, an ack outside one leaves at once).
* ``reject(requeue=True)``, a clean close, a cancelled consumer's buffered
  messages and ``basic_recover`` make the message visible again at once
  (visibility 0). ``reject(requeue=False)`` deletes it, unless the queue has
  a redrive policy: then it is left to come back and be dead-lettered by SQS.
  A rejected task under a predefined queue's ``backoff_policy`` (requeued or
  not, as in Kombu 5.7) comes back after the policy's delay instead.
* A process that dies stops renewing: its messages come back after the
  visibility timeout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from kombu.exceptions import ChannelError
from kombu.transport import virtual
from kombu.transport.virtual.base import Empty
from kombu.transport.virtual.lease import LeaseKeeper

from . import envelope
from .bindings import StoredBindings
from .naming import is_fifo
from .publisher import MAX_MESSAGE_BYTES, entry_size
from .receiving import SQS_MAX_MESSAGES, ReceivingChannel

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Channel", "QoS", "MAX_DELAY_SECONDS", "SQS_MAX_MESSAGES")

logger = logging.getLogger(__name__)

#: SQS's longest per-message delay.
MAX_DELAY_SECONDS = 900
#: Property holding the epoch time before which a long-delayed message is
#: not delivered (see :meth:`Channel._defer_if_early`).
NOT_BEFORE = "sqs_not_before"
#: The queue tag holding a queue's policy arguments (x-message-ttl, ...), and SQS's
#: limit for a tag value.
ARGUMENTS_TAG = "kombu-arguments"
ARGUMENTS_TAG_MAX = 256
#: How long a queue's redrive policy is trusted before it is read again.
REDRIVE_POLICY_TTL = 300.0


def _chunks(items: Sequence[Any], size: int = SQS_MAX_MESSAGES) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _renew_hook(channel: Channel, items: Sequence[tuple[str, str]]) -> None:
    channel._renew_leases(items)


class QoS(virtual.QoS):
    """The engine's prefetch and acks; the channel's storage hooks delete, release or back off."""

    channel: Channel


class Channel(StoredBindings, ReceivingChannel):
    """A channel of the SQS transport: storage primitives and the engine's hooks.

    Receiving into the buffer is :class:`.receiving.ReceivingChannel`'s,
    bindings stored on the server :class:`.bindings.StoredBindings`'.
    """

    QoS = QoS
    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.settings = connection.settings
        self.supports_fanout = self.settings.supports_fanout
        #: receipt handle -> (queue, queue URL) of every message this channel
        #: holds: received and not yet acked, rejected or given back.
        self._held: dict[str, tuple[str, str]] = {}
        #: queue URL -> receipt handles acked but not yet deleted.
        self._deletes: dict[str, list[str]] = {}
        self._lock = threading.RLock()
        self._lease: LeaseKeeper | None = None
        self._redrive: dict[str, tuple[bool, float]] = {}
        self._fifo_dedup: dict[str, bool] = {}

    # -- names and URLs -----------------------------------------------------------
    def canonical_queue_name(self, queue: str) -> str:
        """The SQS name of Kombu queue ``queue`` (Kombu 5.7's method name)."""
        return self.connection.sqs_name(queue)

    def _url(self, queue: str, create: bool = True) -> str:
        return self.connection.queue_url(queue, create=create)

    def sqs(self, queue: str | None = None) -> Any:
        """The boto3 SQS client (Kombu 5.7's method name)."""
        return self.connection.clients.client("sqs", queue)

    # -- queues ---------------------------------------------------------------------
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self.connection.expiry.sweep(self)
        self._url(queue, create=True)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        self.connection.expiry.sweep(self)
        try:
            self._url(queue, create=False)
        except ChannelError:
            return False
        return True

    def _size(self, queue: str) -> int:
        self.connection.flush_publishes()
        try:
            url = self._url(queue, create=False)
        except ChannelError:
            return 0
        attrs = self.sqs(queue).get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    def _purge(self, queue: str) -> int:
        """Delete the ready messages of ``queue`` (not those held by consumers).

        Receives and deletes in batches rather than ``PurgeQueue``, which
        also drops in-flight messages and is allowed once a minute
        (:data:`.quirks.PURGE_ONCE_A_MINUTE`).
        """
        self.connection.flush_publishes()
        try:
            url = self._url(queue, create=False)
        except ChannelError:
            return 0
        client = self.sqs(queue)
        purged = 0
        while True:
            records = (
                client.receive_message(QueueUrl=url, MaxNumberOfMessages=SQS_MAX_MESSAGES, WaitTimeSeconds=0).get(
                    "Messages"
                )
                or []
            )
            if not records:
                return purged
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["ReceiptHandle"]} for i, r in enumerate(records)],
            )
            purged += len(records)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        """Drop one binding of ``queue`` (``args``: exchange, routing key, pattern, queue)
        or, without ``args``, the SQS queue itself."""
        if args:
            self._drop_stored_binding(queue, args[0], (args[1], args[2], args[3]))
            return
        if self.settings.predefined_queues:
            return  # predefined queues are the operator's, never deleted
        self.connection.flush_publishes()
        self.give_back_buffer(queue)
        self.connection.delete_queue(queue)

    # -- queue arguments (TTL, max length, dead-lettering) stored as queue tags ------------
    def _store_queue_arguments(self, queue: str, arguments: Any) -> None:
        """Keep ``queue``'s policy arguments in its tag ``kombu-arguments`` (for other processes)."""
        if self.settings.predefined_queues:
            return
        value = json.dumps(dict(arguments), sort_keys=True, default=str)
        if len(value) > ARGUMENTS_TAG_MAX:
            logger.warning(
                "sqs: the arguments of queue %r are too long for a queue tag; "
                "processes that did not declare it will not enforce them",
                queue,
            )
            return
        tags = {ARGUMENTS_TAG: value}
        if arguments.get("x-expires") is not None:
            tags.update(self.connection.expiry.used_tags(queue))
        self.sqs(queue).tag_queue(QueueUrl=self._url(queue), Tags=tags)

    def _load_queue_arguments(self, queue: str) -> Any:
        try:
            url = self._url(queue, create=False)
            tags = self.sqs(queue).list_queue_tags(QueueUrl=url).get("Tags") or {}
        except (ChannelError, ClientError) as exc:  # e.g. no sqs:ListQueueTags permission
            logger.debug("sqs: no stored arguments for %r: %r", queue, exc)
            return None
        value = tags.get(ARGUMENTS_TAG)
        return json.loads(value) if value else None

    # -- exchanges and bindings stored on the server -------------------------------------
    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        """Nothing to store yet: the type is stored with the exchange's first binding.

        An exchange's table queue (:mod:`.bindings`) holds its type and
        bindings; an exchange without bindings routes nowhere, so it gets no
        table queue of its own (one SQS queue per exchange otherwise).
        """

    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        """The type stored in ``exchange``'s binding table, if it has one (cached, see :mod:`.bindings`)."""
        store = self.connection.bindings
        if store is None:
            return None
        type_, _ = store.load(exchange)
        return None if type_ is None else {"type": type_}

    def _delete_exchange_record(self, exchange: str) -> None:
        """Delete ``exchange``'s binding table (its stored type and bindings)."""
        if self.connection.bindings is not None:
            self.connection.bindings.drop(exchange)

    # -- fanout through SNS -------------------------------------------------------------
    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self.typeof(exchange).type == "fanout":
            self.connection.fanout.subscribe(exchange, queue)

    def _queue_unbind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        if self.typeof(exchange).type == "fanout":
            self.connection.fanout.unsubscribe(exchange, queue)

    def _put_fanout(self, exchange: str, message: dict[str, Any], routing_key: str, **kwargs: Any) -> None:
        self.connection.fanout.publish(exchange, message)

    # -- producing ------------------------------------------------------------------
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """SendMessage ``message`` to ``queue`` (created on first use, as in Kombu 5.7)."""
        url = self._url(queue)
        props = message.get("properties") or {}
        params: dict[str, Any] = {"QueueUrl": url}
        attributes = props.get("message_attributes")
        if attributes is not None:
            params["MessageAttributes"] = attributes
            message = {**message, "properties": {k: v for k, v in props.items() if k != "message_attributes"}}
            props = message["properties"]
        delay = resolve_delay(props)
        if is_fifo(url):
            params["MessageGroupId"] = str(props.get("MessageGroupId", "default"))
            dedup = props.get("MessageDeduplicationId")
            if dedup is not None:
                params["MessageDeduplicationId"] = str(dedup)
            elif self._content_dedup(queue, url):
                params["MessageDeduplicationId"] = content_digest(message)
            else:
                params["MessageDeduplicationId"] = uuid.uuid4().hex
            if delay:
                logger.warning(
                    "sqs: FIFO queues take no per-message delay; ignoring a delay of %s s for %r", delay, queue
                )
        else:
            if props.get("MessageGroupId") is not None:
                params["MessageGroupId"] = str(props["MessageGroupId"])
            if delay:
                if delay > MAX_DELAY_SECONDS:
                    message = self._with_not_before(message, time.time() + delay)
                    delay = MAX_DELAY_SECONDS
                params["DelaySeconds"] = delay
        params["MessageBody"] = envelope.encode(message, self.settings.base64_encoding)
        window = self.connection.publisher
        if self._batchable(queue) and entry_size(params) <= MAX_MESSAGE_BYTES:
            window.put(params.pop("QueueUrl"), params)
        else:  # sent at once: SQS's error (e.g. too large) reaches the publisher
            self.sqs(queue).send_message(**params)

    def _batchable(self, queue: str) -> bool:
        if not self.settings.batch_publish:
            return False
        spec = self.settings.predefined_queues.get(queue)
        return not (spec and (spec.get("access_key_id") or spec.get("region")))

    @staticmethod
    def _with_not_before(message: dict[str, Any], when: float) -> dict[str, Any]:
        props = {k: v for k, v in message["properties"].items() if k not in ("delay_seconds", "DelaySeconds")}
        props[NOT_BEFORE] = when
        return {**message, "properties": props}

    def _content_dedup(self, queue: str, url: str) -> bool:
        known = self._fifo_dedup.get(url)
        if known is None:
            attrs = (
                self.sqs(queue)
                .get_queue_attributes(QueueUrl=url, AttributeNames=["ContentBasedDeduplication"])
                .get("Attributes", {})
            )
            known = self._fifo_dedup[url] = str(attrs.get("ContentBasedDeduplication")).lower() == "true"
        return known

    # -- long delays, in hops (sent by _put, sent on when received early) ---------------------
    def _defer_if_early(self, queue: str, url: str, payload: dict[str, Any]) -> bool:
        """Send a long-delayed message on for its next hop; whether it was deferred.

        A delay over SQS's 900 s limit is made of hops: the message carries
        its due time (``sqs_not_before``); received early, it is sent again
        with the remaining delay (at most 900 s) and the early copy deleted.
        """
        props = payload["properties"]
        due = props.get(NOT_BEFORE)
        if due is None:
            return False
        remaining = float(due) - time.time()
        if remaining <= 0:
            return False
        tag = props["delivery_tag"]
        body = {k: v for k, v in payload.items() if k != "redelivered"}
        body["properties"] = {k: v for k, v in props.items() if k not in ("delivery_tag", "delivery_info")}
        body["properties"]["delivery_info"] = {
            k: v
            for k, v in props.get("delivery_info", {}).items()
            if k not in ("sqs_message", "sqs_queue", "redelivered")
        }
        self.sqs(queue).send_message(
            QueueUrl=url,
            MessageBody=envelope.encode(body, self.settings.base64_encoding),
            DelaySeconds=min(math.ceil(remaining), MAX_DELAY_SECONDS),
        )
        with self._lock:
            self._held.pop(tag, None)
            self._deletes.setdefault(url, []).append(tag)
        self.flush_deletes()
        return True

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        got = self._receive(queue, 1, 0)
        if not got:
            raise Empty()
        return got[0]

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        """Receive one message (no wait) once this connection's publishes are on SQS; ``None``
        when none is ready."""
        self.connection.flush_publishes()
        return super().basic_get(queue, no_ack=no_ack, **kwargs)

    # -- acks, rejects, restores ------------------------------------------------------
    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """An ack deletes the messages; a rejected one backs off, is deleted, or is left to redrive."""
        if not rejected:
            self._settle([m.delivery_tag for m in messages])
            return
        for message in messages:
            backoff = self._backoff_seconds(message)
            if backoff is not None:
                # Kombu 5.7 backs off a rejected task even without requeue.
                self._release([message.delivery_tag], visibility=backoff)
            else:
                self._discard(message.delivery_tag)

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        """Make held messages visible again: at once, or a rejected task after its backoff delay.

        A message this channel no longer holds (a ``no_ack`` delivery, already
        deleted) is sent again as a copy, marked redelivered.
        """
        by_visibility: dict[int, list[Any]] = {}
        copies = []
        for message in messages:
            if message.delivery_tag not in self._held:
                copies.append(message)
                continue
            backoff = self._backoff_seconds(message) if rejected else None
            by_visibility.setdefault(backoff or 0, []).append(message.delivery_tag)
        for visibility, tags in by_visibility.items():
            self._release(tags, visibility=visibility)
        for message in copies:
            if message.queue:
                payload = message.serializable()
                payload["properties"].get("delivery_info", {}).pop("sqs_message", None)
                payload["redelivered"] = True
                self._put(message.queue, payload)

    def _backoff_seconds(self, message: Any) -> int | None:
        """The delay ``backoff_policy`` gives a rejected task of a predefined queue, if any.

        Kombu 5.7's options: ``predefined_queues[q]['backoff_tasks']`` (task names)
        and ``['backoff_policy']`` (receive count -> seconds until it comes back).
        """
        spec = self.settings.predefined_queues.get(message.queue or "")
        if not spec or not spec.get("backoff_tasks") or not spec.get("backoff_policy"):
            return None
        if (message.headers or {}).get("task") not in spec["backoff_tasks"]:
            return None
        record = message.delivery_info.get("sqs_message") or {}
        try:
            count = int(record.get("Attributes", {}).get("ApproximateReceiveCount", 0))
        except (TypeError, ValueError):
            return None
        policy = spec["backoff_policy"]
        value = policy.get(count, policy.get(str(count)))
        return None if value is None else int(value)

    def _settle(self, tags: Iterable[Any]) -> None:
        """Delete acked messages (batched within a delivery burst)."""
        full = False
        with self._lock:
            for tag in tags:
                held = self._held.pop(tag, None)
                if held is not None:
                    pending = self._deletes.setdefault(held[1], [])
                    pending.append(tag)
                    full = full or len(pending) >= SQS_MAX_MESSAGES
        if full or not self.connection.delivering:
            self.flush_deletes()

    def flush_deletes(self) -> None:
        """Send the pending deletes (``DeleteMessageBatch``, 10 at a time).

        On a connection error the deletes stay pending (sent again by the
        next flush) and the error is raised.
        """
        with self._lock:
            if not self._deletes:
                return
            pending, self._deletes = self._deletes, {}
            client = self.sqs()
            try:
                for url, handles in list(pending.items()):
                    while handles:
                        chunk = handles[:SQS_MAX_MESSAGES]
                        resp = client.delete_message_batch(
                            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
                        )
                        del handles[:SQS_MAX_MESSAGES]
                        for failed in resp.get("Failed") or ():
                            logger.warning(
                                "sqs: delete of an acked message failed on %s: %s",
                                url,
                                failed.get("Message") or failed.get("Code"),
                            )
                    del pending[url]
            except Exception:
                for url, handles in pending.items():
                    self._deletes.setdefault(url, []).extend(handles)
                raise

    def _release(self, tags: Iterable[Any], visibility: int = 0) -> int:
        """Make held messages visible again (at once, or after ``visibility`` s); how many."""
        by_url: dict[str, list[str]] = {}
        with self._lock:
            for tag in tags:
                held = self._held.pop(tag, None)
                if held is not None:
                    by_url.setdefault(held[1], []).append(tag)
            if not by_url:
                return 0
            self._change_visibility(by_url, visibility)
        return sum(len(v) for v in by_url.values())

    def _change_visibility(self, by_url: dict[str, list[str]], seconds: int) -> None:
        client = self.sqs()
        for url, handles in by_url.items():
            for chunk in _chunks(handles):
                resp = client.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": seconds} for i, h in enumerate(chunk)
                    ],
                )
                for failed in resp.get("Failed") or ():
                    logger.info(
                        "sqs: visibility change failed on %s: %s", url, failed.get("Message") or failed.get("Code")
                    )

    def _discard(self, tag: Any) -> None:
        """``reject(requeue=False)``: delete, unless a redrive policy will dead-letter it."""
        with self._lock:
            held = self._held.get(tag)
        if held is None:
            return
        if self._has_redrive_policy(held[0], held[1]):
            with self._lock:
                self._held.pop(tag, None)  # not renewed: SQS redrives it after the timeout
            return
        self._settle([tag])

    def _has_redrive_policy(self, queue: str, url: str) -> bool:
        now = time.monotonic()
        cached = self._redrive.get(url)
        if cached is not None and now - cached[1] < REDRIVE_POLICY_TTL:
            return cached[0]
        attrs = (
            self.sqs(queue).get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        )
        has = "RedrivePolicy" in attrs
        self._redrive[url] = (has, now)
        return has

    def _restore(self, message: Any) -> None:
        self._release_deliveries([message], rejected=False)

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)

    # -- leases ------------------------------------------------------------------------
    def _ensure_lease(self) -> None:
        if self._lease is not None and self._lease.running:
            return
        vt = self.settings.visibility_timeout
        interval = self.settings.lease_interval or max(vt / 3.0, 0.2)
        self._lease = LeaseKeeper(
            self, float(interval), renew=_renew_hook, name=f"kombu-sqs-lease-{self.channel_id}"
        ).start()

    def _lease_messages(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._held.items())  # type: ignore[arg-type]

    def _renew_leases(self, items: Sequence[tuple[str, Any]]) -> None:
        """Extend the visibility of held messages by ``visibility_timeout`` (lease thread)."""
        vt = self.settings.visibility_timeout
        with self._lock:
            self.flush_deletes()
            by_url: dict[str, list[str]] = {}
            for tag, _ in items:
                held = self._held.get(tag)
                if held is not None:
                    by_url.setdefault(held[1], []).append(tag)
            if by_url:
                self._change_visibility(by_url, vt)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        try:
            try:
                self.give_back_buffer()
            except self.connection.connection_errors as exc:
                logger.warning("sqs: could not give back buffered messages: %r", exc)
            super().close()
            try:
                self.flush_deletes()
            except self.connection.connection_errors as exc:
                logger.warning("sqs: could not delete acked messages at close: %r", exc)
        finally:
            if self._lease is not None:
                self._lease.stop()
                self._lease = None
            self._held.clear()


#: Envelope properties that differ between two publishes of the same message.
_PER_PUBLISH = frozenset({"delivery_tag", "delivery_info", "x-published-at"})


def content_digest(message: dict[str, Any]) -> str:
    """A deduplication id from what the application published (SHA-256, hex).

    SQS's content-based deduplication hashes the SQS body, which holds a fresh
    delivery tag and publish time on every publish, so two publishes of the same
    message never match. For a queue with ``ContentBasedDeduplication`` the id is
    computed here instead, from the body, headers and properties the application gave.
    """
    props = {k: v for k, v in (message.get("properties") or {}).items() if k not in _PER_PUBLISH}
    stable = {k: v for k, v in message.items() if k not in ("properties", "redelivered")}
    text = json.dumps([stable, props], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_delay(props: dict[str, Any]) -> int | None:
    """The per-message delay of a publish, as Kombu 5.7 reads it.

    ``delay_seconds`` or ``DelaySeconds`` in the message properties
    (``producer.publish(..., delay_seconds=30)``); a float is truncated; a
    negative or non-numeric value is ignored with a warning. Unlike Kombu
    5.7, a delay over 900 s is not clamped: it is delivered in hops (see
    :meth:`Channel._defer_if_early`).
    """
    for key in ("delay_seconds", "DelaySeconds"):
        value = props.get(key)
        if value is None:
            continue
        try:
            delay = int(value)
        except (TypeError, ValueError, OverflowError):
            logger.warning("sqs: delay %r is not a number; publishing without a delay", value)
            return None
        if delay < 0:
            logger.warning("sqs: negative delay %s; publishing without a delay", delay)
            return None
        return delay
    return None
