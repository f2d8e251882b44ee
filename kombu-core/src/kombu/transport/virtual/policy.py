"""Per-queue policies of the virtual engine: TTL, expiry, max length, dead-lettering.

A queue declared with any of RabbitMQ's arguments ``x-message-ttl``,
``x-expires``, ``x-max-length``, ``x-max-length-bytes``, ``x-overflow``,
``x-dead-letter-exchange`` or ``x-dead-letter-routing-key`` gets a
:class:`QueuePolicy`; a queue without them has none, and the engine's hot
path then costs one dict lookup per message.

Times follow RabbitMQ: arguments and the ``expiration`` property are
milliseconds. A message's age is counted from when it was published, which
the engine stamps into its properties as :data:`PUBLISHED_AT` (epoch
seconds, a float); a message without the stamp (e.g. written by Kombu 5)
has no known age, so it never expires: it is delivered. The stamp is kept when a message is requeued, so a requeued
message keeps its original deadline, as on RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import ChannelError

__all__ = (
    "PUBLISHED_AT",
    "OVERFLOW_MODES",
    "POLICY_ARGUMENTS",
    "InvalidQueueArgument",
    "QueuePolicy",
    "parse_expiration",
    "message_deadline",
)

#: The properties key holding the publish time (epoch seconds).
PUBLISHED_AT = "x-published-at"

#: ``x-overflow`` values: what a full queue does with one more message.
OVERFLOW_MODES = frozenset({"drop-head", "reject-publish", "reject-publish-dlx"})

#: Queue arguments that make a policy.
POLICY_ARGUMENTS = (
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
)


class InvalidQueueArgument(ChannelError, ValueError):
    """A queue argument has a value the broker cannot honour (RabbitMQ: PRECONDITION_FAILED)."""


def _non_negative_int(arguments: Mapping[str, Any], key: str, minimum: int = 0) -> int | None:
    value = arguments.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidQueueArgument(f"PRECONDITION_FAILED - invalid arg {key!r}: {value!r} is not an integer") from None
    if isinstance(value, float) and value != number:
        raise InvalidQueueArgument(f"PRECONDITION_FAILED - invalid arg {key!r}: {value!r} is not an integer")
    if number < minimum:
        raise InvalidQueueArgument(f"PRECONDITION_FAILED - invalid arg {key!r}: {value!r} is below {minimum}")
    return number


@dataclass(frozen=True)
class QueuePolicy:
    """What the engine enforces for one queue (milliseconds, counts and bytes).

    ``dead_letter_exchange`` is ``None`` when the queue does not dead-letter;
    ``""`` is the default exchange (the routing key names the queue).
    """

    message_ttl: int | None = None
    expires: int | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    overflow: str = "drop-head"
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any] | None) -> QueuePolicy | None:
        """The policy ``arguments`` ask for, or ``None`` when they ask for none.

        Raises :class:`InvalidQueueArgument` for a value RabbitMQ would refuse.
        """
        if not arguments:
            return None
        if not any(arguments.get(key) is not None for key in POLICY_ARGUMENTS):
            return None
        overflow = arguments.get("x-overflow") or "drop-head"
        if overflow not in OVERFLOW_MODES:
            raise InvalidQueueArgument(
                f"PRECONDITION_FAILED - invalid arg 'x-overflow': {overflow!r} "
                f"(one of {', '.join(sorted(OVERFLOW_MODES))})"
            )
        dlx = arguments.get("x-dead-letter-exchange")
        dlrk = arguments.get("x-dead-letter-routing-key")
        if dlrk is not None and dlx is None:
            raise InvalidQueueArgument(
                "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key': requires 'x-dead-letter-exchange'"
            )
        return cls(
            message_ttl=_non_negative_int(arguments, "x-message-ttl"),
            expires=_non_negative_int(arguments, "x-expires", minimum=1),
            max_length=_non_negative_int(arguments, "x-max-length"),
            max_length_bytes=_non_negative_int(arguments, "x-max-length-bytes"),
            overflow=str(overflow),
            dead_letter_exchange=None if dlx is None else str(dlx),
            dead_letter_routing_key=None if dlrk is None else str(dlrk),
        )

    @property
    def limited(self) -> bool:
        """Whether the queue has a length limit."""
        return self.max_length is not None or self.max_length_bytes is not None


def parse_expiration(value: Any) -> int | None:
    """The ``expiration`` property in milliseconds, or ``None`` if absent or unreadable."""
    if value is None:
        return None
    try:
        ms = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return max(ms, 0)


def message_deadline(properties: Mapping[str, Any], policy: QueuePolicy | None) -> float | None:
    """When the message dies (epoch seconds), or ``None`` if it never does.

    The earlier of its own ``expiration`` and the queue's ``x-message-ttl``,
    both counted from :data:`PUBLISHED_AT`.
    """
    published = properties.get(PUBLISHED_AT)
    if published is None:
        return None
    ttl = parse_expiration(properties.get("expiration"))
    if policy is not None and policy.message_ttl is not None:
        ttl = policy.message_ttl if ttl is None else min(ttl, policy.message_ttl)
    if ttl is None:
        return None
    try:
        return float(published) + ttl / 1000.0
    except (TypeError, ValueError):
        return None
