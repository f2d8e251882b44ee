"""How the virtual engine enforces queue policies: TTL, expiry, max length, dead-lettering.

:class:`QueuePolicies` is mixed into :class:`~kombu.transport.virtual.Channel`;
its methods run at fixed points of the channel's life:

* ``queue_declare`` records the queue's :class:`~.policy.QueuePolicy` in the
  :class:`~.state.BrokerState` and hands its arguments to the transport's
  optional ``_store_queue_arguments`` hook; a process that never declared a
  queue asks ``_load_queue_arguments`` once (:meth:`QueuePolicies._policy`);
* publishing to a queue with a length limit goes through
  :meth:`QueuePolicies._put_limited` (``x-overflow``);
* every fetched message passes :meth:`QueuePolicies._dead_on_fetch` (or,
  for a transport's own ``basic_get``, :meth:`QueuePolicies._dead_on_get`)
  before anyone sees it: past its TTL it is dead-lettered or dropped;
* ``basic_reject``/``basic_nack`` without requeue dead-letter through
  :meth:`QueuePolicies._dead_letter_rejected` before the QoS drops the message;
* with ``engine_queue_expiry``, queues unused for their ``x-expires`` are
  deleted by :meth:`QueuePolicies._expire_unused_queues`.

A message that dies is dead-lettered first and removed second, so a failure
in between duplicates it rather than losing it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from queue import Empty
from typing import TYPE_CHECKING, Any

from kombu.transport.virtual.deadletter import EXPIRED, MAXLEN, REJECTED, dead_letter_envelope
from kombu.transport.virtual.policy import PUBLISHED_AT, QueuePolicy, message_deadline

if TYPE_CHECKING:
    from kombu.transport.virtual.base import Channel
    from kombu.transport.virtual.message import Message as VirtualMessage
    from kombu.transport.virtual.qos import QoS
    from kombu.transport.virtual.state import BrokerState

__all__ = ("QueuePolicies", "UNKNOWN", "DEAD_BUDGET", "ttl_checked_basic_get")

logger = logging.getLogger("kombu.transport.virtual.base")
_time = time.time
_monotonic = time.monotonic
#: ``_policies.get(queue, UNKNOWN)``: the queue's arguments were never looked up.
UNKNOWN: Any = object()
#: Dead messages dropped in one delivery attempt before it yields.
DEAD_BUDGET = 100


class QueuePolicies:
    """The policy half of a virtual channel (see the module docstring)."""

    if TYPE_CHECKING:
        _policies: dict[str, Any]
        _limits: dict[str, Any]
        _qos: QoS | None
        Message: type[VirtualMessage]

        @property
        def state(self) -> BrokerState: ...
        @property
        def qos(self) -> QoS: ...
        def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]: ...
        def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None: ...
        def _size(self, queue: str) -> int: ...
        def _store_queue_arguments(self, queue: str, arguments: Mapping[str, Any]) -> None: ...
        def _load_queue_arguments(self, queue: str) -> Mapping[str, Any] | None: ...
        def queue_delete(
            self, queue: str, if_unused: bool = False, if_empty: bool = False, **kwargs: Any
        ) -> int | None: ...
        def basic_publish(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None: ...
        def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None: ...

    def _record_policy(self, queue: str, policy: QueuePolicy | None, arguments: Mapping[str, Any] | None) -> None:
        state = self.state
        state.set_policy(queue, policy)
        if policy is not None:
            assert arguments is not None
            if policy.expires is not None:
                state.queue_used[queue] = _monotonic()
            self._store_queue_arguments(queue, {k: v for k, v in arguments.items() if v is not None})

    def _policy(self, queue: str) -> QueuePolicy | None:
        """The policy of ``queue``: recorded at declare, else loaded once through the hook."""
        policy = self._policies.get(queue, UNKNOWN)
        if policy is UNKNOWN:
            policy = None
            # Only arguments that cannot be read are ignored (and remembered as none); a
            # connection error propagates uncached, so ensure() retries and the next call loads.
            try:
                policy = QueuePolicy.from_arguments(self._load_queue_arguments(queue))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                logger.warning("virtual: ignoring unreadable arguments of queue %r: %r", queue, exc)
            self.state.set_policy(queue, policy)
        return policy  # type: ignore[no-any-return]

    def _queue_used(self, queue: str) -> None:
        """``queue`` was used now (consumed, fetched from, declared): its expiry restarts."""
        if queue in self.state.expiring:
            self.state.queue_used[queue] = _monotonic()

    def _expire_unused_queues(self) -> int:
        """Delete every queue unused for its ``x-expires`` (``engine_queue_expiry``); how many."""
        state = self.state
        now = _monotonic()
        dead = [
            queue
            for queue, expires in list(state.expiring.items())
            if not state.queue_consumers.get(queue) and now - state.queue_used.get(queue, now) >= expires / 1000.0
        ]
        for queue in dead:
            logger.debug("virtual: queue %r expired (unused for its x-expires)", queue)
            self.queue_delete(queue)
        return len(dead)

    def _put_limited(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """``_put`` honouring ``queue``'s ``x-max-length``/``-bytes`` and ``x-overflow``.

        ``drop-head`` puts the message, then takes the oldest ready messages
        out (dead-lettering them as ``maxlen``) until the queue fits;
        ``reject-publish`` drops the new message when the queue is full
        (``reject-publish-dlx`` dead-letters it). Checked against
        ``_size``: with several publishers at once the bound is approximate.
        """
        policy = self._limits.get(queue)
        if policy is None:
            self._put(queue, message, **kwargs)
            return
        if policy.overflow != "drop-head":
            if self._over_limit(queue, policy, incoming=message):
                logger.debug("virtual: queue %r is full (%s): message dropped", queue, policy.overflow)
                if policy.overflow == "reject-publish-dlx":
                    self._dead_letter(message, queue, MAXLEN, policy)
                return
            self._put(queue, message, **kwargs)
            return
        self._put(queue, message, **kwargs)
        for _ in range(10_000):
            if not self._over_limit(queue, policy):
                break
            try:
                payload = self._get(queue)
            except Empty:
                break
            self._discard_fetched(payload, queue, MAXLEN, policy)

    def _over_limit(self, queue: str, policy: QueuePolicy, incoming: dict[str, Any] | None = None) -> bool:
        """Whether ``queue`` exceeds its limits (with ``incoming`` added, if given)."""
        extra = 0 if incoming is None else 1
        if policy.max_length is not None and self._size(queue) + extra > policy.max_length:
            return True
        if policy.max_length_bytes is not None:
            size = self._queue_bytes(queue)  # type: ignore[attr-defined]
            if incoming is not None:
                size += _body_size(incoming)
            if size > policy.max_length_bytes:
                return True
        return False

    # -- dead messages ----------------------------------------------------------------

    def _dead_on_fetch(self, payload: dict[str, Any], queue: str) -> bool:
        """Whether fetched ``payload`` is past its TTL; if so it is already discarded."""
        policy = self._policies.get(queue, UNKNOWN)
        if policy is UNKNOWN:
            policy = self._policy(queue)
        try:
            props = payload["properties"]
            if props.get("expiration") is None and (policy is None or policy.message_ttl is None):
                return False
        except (KeyError, TypeError, AttributeError):
            return False  # malformed: delivered, its decode raises
        deadline = message_deadline(props, policy)
        if deadline is None or deadline > _time():
            return False
        self._discard_fetched(payload, queue, EXPIRED, policy)
        return True

    def _dead_on_get(self, message: VirtualMessage, queue: str, no_ack: bool) -> bool:
        """Whether a message a transport's own ``basic_get`` returned is past its TTL.

        If so it is dead-lettered (if the queue says so) and acked, and
        ``True`` is returned.
        """
        policy = self._policies.get(queue, UNKNOWN)
        if policy is UNKNOWN:
            policy = self._policy(queue)
        props = message.properties
        if props.get("expiration") is None and (policy is None or policy.message_ttl is None):
            return False
        published_at = getattr(message, "published_at", None)
        stamped = props if published_at is None else {**props, PUBLISHED_AT: published_at}
        deadline = message_deadline(stamped, policy)
        if deadline is None or deadline > _time():
            return False
        if policy is not None and policy.dead_letter_exchange is not None:
            self._dead_letter(message._raw, queue, EXPIRED, policy)
        if not no_ack and message.delivery_tag is not None:
            self.basic_ack(message.delivery_tag)
        return True

    def _discard_fetched(self, payload: dict[str, Any], queue: str, reason: str, policy: QueuePolicy | None) -> None:
        """A fetched message died (``reason``): dead-letter it if the queue says so, then drop it."""
        if policy is not None and policy.dead_letter_exchange is not None:
            self._dead_letter(payload, queue, reason, policy)
        self._drop_fetched(payload, queue)

    def _drop_fetched(self, payload: dict[str, Any], queue: str) -> None:
        """Remove a fetched, never delivered message from the broker for good.

        Default: record it as delivered and ack it through the channel's
        QoS, so transports that lease messages (or record deliveries)
        release it exactly as on an application ack. Override when there
        is a cheaper way.
        """
        message = self.Message(payload, channel=self)
        message.queue = queue
        tag = message.delivery_tag
        if tag is None:
            return
        qos = self.qos
        qos.append(message, tag)
        qos.ack(tag)

    def _dead_letter(self, payload: Mapping[str, Any], queue: str, reason: str, policy: QueuePolicy) -> None:
        """Publish a copy of ``payload`` to ``queue``'s dead-letter exchange (see :mod:`.deadletter`)."""
        routed = dead_letter_envelope(payload, queue, reason, policy, _time())
        if routed is None:
            logger.debug("virtual: message dead-lettered in a cycle from %r dropped", queue)
            return
        exchange, routing_key, envelope = routed
        self.basic_publish(envelope, exchange, routing_key)

    def _dead_letter_rejected(self, delivery_tag: Any) -> None:
        qos = self._qos
        if qos is None:
            return
        message = qos._delivered.get(delivery_tag)
        queue = getattr(message, "queue", None)
        if message is None or not queue:
            return
        policy = self._policy(queue)
        if policy is not None and policy.dead_letter_exchange is not None:
            self._dead_letter(message._raw, queue, REJECTED, policy)


def ttl_checked_basic_get(basic_get: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a transport's own ``basic_get`` so it never returns a message past its TTL."""

    @functools.wraps(basic_get)
    def checked_basic_get(self: Channel, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        for _ in range(DEAD_BUDGET * 100):
            message = basic_get(self, queue, no_ack, **kwargs)
            if message is None or not self._dead_on_get(message, queue, no_ack):
                return message
        return None

    checked_basic_get._engine_ttl_checked = True  # type: ignore[attr-defined]
    return checked_basic_get


def _body_size(payload: Mapping[str, Any]) -> int:
    """The size of a stored envelope's body (as stored)."""
    body = payload.get("body")
    if isinstance(body, (bytes, str)):
        return len(body)
    return 0
