"""Key and channel names, laid out exactly as Kombu 5.7.0 lays them out in Redis.

Everything a Kombu 5 process and this transport must agree on to share one
Redis database lives here and nowhere else:

* A queue ``q`` is a list; :data:`LPUSH` adds at the left, consumers pop at
  the right. Priorities use sub-lists ``q + sep + str(step)`` for the steps
  ``3, 6, 9`` (step ``0`` is the bare name); a priority ``n`` goes to the
  greatest step ``<= n``.
* Bindings of exchange ``x`` are the set ``_kombu.binding.x`` whose members
  are ``routing_key + sep + pattern + sep + queue``; bindings of queues
  without ``x-expires`` are mirrored in ``_kombu.binding_permanent.x`` and
  bindings of expiring queues get a deadline in the sorted set
  ``_kombu.binding_deadlines`` (Kombu 5.7's binding sweep reads both).
* Unacknowledged deliveries: hash ``unacked`` (field delivery tag, value the
  JSON ``[envelope, exchange, routing_key]``), sorted set ``unacked_index``
  (member delivery tag, score the delivery time in seconds since the epoch),
  and the restore lock ``unacked_mutex``.
* Fanout is PUB/SUB on channel ``/{db}.`` + exchange, with ``/routing_key``
  appended when the routing key is not empty.
* ``global_keyprefix`` is prepended to every key and PUB/SUB channel.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ("DEFAULT_SEP", "PRIORITY_STEPS", "KeyLayout", "glob_escape")

#: Kombu's separator inside binding members and priority sub-queue names.
DEFAULT_SEP = "\x06\x16"

#: Kombu's priority steps: each priority is stored in the list of the
#: greatest step not above it.
PRIORITY_STEPS: tuple[int, ...] = (0, 3, 6, 9)

_GLOB_SPECIAL = frozenset("*?[]\\")


def glob_escape(text: str) -> str:
    """Escape ``text`` for a Redis PSUBSCRIBE pattern so it matches itself only."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


@dataclass(frozen=True)
class KeyLayout:
    """The Redis names used by one transport connection.

    Attributes:
        db: the database number (used in the fanout channel prefix).
        prefix: ``global_keyprefix``: prepended to every key and channel.
        sep: separator of binding members and priority sub-queues.
        steps: the priority steps, ascending, starting with 0.
        high_first: consume the highest priority step first (AMQP); when
            ``False`` the lowest step is consumed first, as Kombu 5 does.
        fanout_prefix: the fanout channel prefix, ``"/{db}."`` by default,
            ``""`` when Kombu's ``fanout_prefix`` option is false.
        fanout_patterns: append ``/routing_key`` to fanout channels.
        unacked / unacked_index / unacked_mutex: names of the ack records.
    """

    db: int = 0
    prefix: str = ""
    sep: str = DEFAULT_SEP
    steps: tuple[int, ...] = PRIORITY_STEPS
    high_first: bool = True
    fanout_prefix: str = "/{db}."
    fanout_patterns: bool = True
    unacked: str = "unacked"
    unacked_index: str = "unacked_index"
    unacked_mutex: str = "unacked_mutex"
    _consume_order: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple(sorted(int(s) for s in self.steps))
        if not steps or steps[0] != 0:
            steps = (0, *steps)
        object.__setattr__(self, "steps", steps)
        order = tuple(reversed(steps)) if self.high_first else steps
        object.__setattr__(self, "_consume_order", order)

    # -- queues -----------------------------------------------------------
    def step(self, priority: int) -> int:
        """The priority step a message of ``priority`` is stored under."""
        return self.steps[max(bisect(self.steps, priority) - 1, 0)]

    def queue_key(self, queue: str, priority: int = 0) -> str:
        """The (prefixed) list holding ``queue``'s messages of ``priority``."""
        step = self.step(priority)
        if step:
            return f"{self.prefix}{queue}{self.sep}{step}"
        return self.prefix + queue

    def queue_keys(self, queue: str) -> list[str]:
        """Every sub-list of ``queue``, in consume order (first = served first)."""
        p, sep = self.prefix, self.sep
        return [f"{p}{queue}{sep}{s}" if s else p + queue for s in self._consume_order]

    def queue_of_key(self, key: str) -> str:
        """The queue name of a (prefixed) list key; inverse of :meth:`queue_key`."""
        if self.prefix and key.startswith(self.prefix):
            key = key[len(self.prefix) :]
        name, sep, step = key.rpartition(self.sep)
        if sep and step.isdigit():
            return name
        return key

    # -- bindings -----------------------------------------------------------
    def binding_key(self, exchange: str) -> str:
        """The set of ``exchange``'s bindings."""
        return f"{self.prefix}_kombu.binding.{exchange}"

    def binding_permanent_key(self, exchange: str) -> str:
        """Kombu 5.7's mirror of the bindings of non-expiring queues."""
        return f"{self.prefix}_kombu.binding_permanent.{exchange}"

    @property
    def binding_deadlines_key(self) -> str:
        """Kombu 5.7's sorted set of binding-table deadlines (ms)."""
        return f"{self.prefix}_kombu.binding_deadlines"

    def binding_member(self, routing_key: str | None, pattern: str | None, queue: str | None) -> str:
        """One member of a binding set."""
        return self.sep.join((routing_key or "", pattern or "", queue or ""))

    def parse_binding(self, member: bytes | str) -> tuple[str, str, str] | None:
        """``(routing_key, pattern, queue)`` of a member, ``None`` if malformed."""
        text = member.decode() if isinstance(member, bytes) else member
        parts = text.split(self.sep)
        if len(parts) != 3:
            return None
        return parts[0], parts[1], parts[2]

    # -- acknowledgement records ----------------------------------------------
    @property
    def unacked_key(self) -> str:
        return self.prefix + self.unacked

    @property
    def unacked_index_key(self) -> str:
        return self.prefix + self.unacked_index

    @property
    def unacked_mutex_key(self) -> str:
        return self.prefix + self.unacked_mutex

    # -- fanout ---------------------------------------------------------------
    @property
    def fanout_base(self) -> str:
        """The channel prefix before the exchange name (with keyprefix and db)."""
        return self.prefix + self.fanout_prefix.format(db=self.db)

    def fanout_channel(self, exchange: str, routing_key: str | None = None) -> str:
        """The PUB/SUB channel a fanout message is published on (as Kombu 5)."""
        if routing_key and self.fanout_patterns:
            return f"{self.fanout_base}{exchange}/{routing_key}"
        return self.fanout_base + exchange

    def fanout_patterns_for(self, exchange: str) -> list[str]:
        """PSUBSCRIBE patterns that catch every broadcast on ``exchange``.

        A fanout exchange ignores the routing key (AMQP), so both the bare
        channel and every ``/routing_key`` channel are subscribed.
        """
        base = glob_escape(self.fanout_base + exchange)
        return [base, base + "/*"] if self.fanout_patterns else [base]

    def exchange_of_channel(self, channel: bytes | str) -> str:
        """The exchange name of a fanout channel name."""
        text = channel.decode() if isinstance(channel, bytes) else channel
        base = self.fanout_base
        if base and text.startswith(base):
            text = text[len(base) :]
        if self.fanout_patterns:
            text = text.split("/", 1)[0]
        return text

    def steps_for(self, priorities: Sequence[int]) -> list[int]:
        """The distinct steps of ``priorities`` (helper for tests and tools)."""
        return sorted({self.step(p) for p in priorities})
