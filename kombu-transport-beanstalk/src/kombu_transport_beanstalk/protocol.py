"""Facts of the beanstalkd protocol this transport is written around (one place).

Each constant below names a behaviour of beanstalkd 1.12 (the server of the
tests, Debian's package) that shapes the transport; the code refers to these
names rather than repeating the numbers.
"""

from __future__ import annotations

import math

__all__ = (
    "TTR_EXPIRY_MAY_STALL",
    "DEFAULT_PORT",
    "MIN_TTR",
    "DEADLINE_SOON_MARGIN",
    "DEFAULT_MAX_JOB_SIZE",
    "MAX_PRIORITY_VALUE",
    "PRIORITY_BASE",
    "whole_seconds",
    "beanstalk_priority",
)

#: Server quirk (beanstalkd 1.12, checked): a job whose TTR ran out while the
#: connection holding it is silent (a consumer cut off by the network, or
#: frozen) is not always made ready again: the server sometimes checks that
#: connection just before the deadline and then not again until the
#: connection sends a command or closes. It is more likely while other
#: clients poll with ``reserve-with-timeout 0``. Jobs of a connection that
#: closes (a crashed or killed consumer, a reset) are released at once, so
#: this only delays a partition's jobs until the server sees the connection
#: die. Nothing a client can do changes it; documented in the README.
TTR_EXPIRY_MAY_STALL = True

#: The port beanstalkd listens on by default.
DEFAULT_PORT = 11300

#: TTR (time to run, the lease) is whole seconds; the server raises 0 to 1.
MIN_TTR = 1

#: A blocking ``reserve`` answers ``DEADLINE_SOON`` instead of waiting when a
#: job the connection holds has less than this many seconds of TTR left, so
#: leases must be renewed (``touch``) well before that point.
DEADLINE_SOON_MARGIN = 1.0

#: ``beanstalkd -z``: the largest job body the server accepts (its default).
#: A bigger job is refused with ``JOB_TOO_BIG``.
DEFAULT_MAX_JOB_SIZE = 65535

#: Job priorities are unsigned 32-bit integers, lower is more urgent.
MAX_PRIORITY_VALUE = 2**32 - 1

#: The beanstalkd priority of an AMQP priority 0 message; priority ``p``
#: (0-255, higher first) becomes ``PRIORITY_BASE - p``. It is greenstalk's
#: and beanstalkd clients' customary default (2**16), so jobs put by other
#: beanstalkd clients rank like priority-0 messages.
PRIORITY_BASE = 2**16


def whole_seconds(seconds: float) -> int:
    """Seconds for a protocol field (``reserve-with-timeout``, ``delay``, TTR): whole, rounded up."""
    return max(0, math.ceil(seconds - 1e-9))


def beanstalk_priority(priority: object) -> int:
    """Map an AMQP priority (0-255, higher first) onto beanstalkd's lower-is-urgent value."""
    try:
        # Any object may come in; what int() refuses falls back to 0 below.
        value: int = int(priority)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        value = 0
    return PRIORITY_BASE - max(0, min(value, 255))
