"""Queue names to beanstalkd tube names and back, reversibly.

beanstalkd accepts tube names of at most 200 bytes made of letters, digits
and ``-+/;.$_()``, not starting with ``-``. Every other character of a queue
name (``@``, ``:``, spaces, non-ASCII ...) is written as ``$`` followed by
two hex digits per UTF-8 byte; ``$`` itself becomes ``$24`` and a leading
``-`` becomes ``$2d``. A name whose mapped form is empty or longer than 200
bytes is refused with :class:`InvalidQueueName`.

The mapping is the identity for the usual names (``celery``, ``kit.1a2b.q``,
``video-tasks``), so tubes stay readable in ``list-tubes``.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ("InvalidQueueName", "tube_for", "queue_for", "MAX_TUBE_NAME")

#: beanstalkd's limit on a tube name, in bytes.
MAX_TUBE_NAME = 200

_KEEP = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/;._()")
_ESCAPE = "$"
_ESCAPED = re.compile(r"\$([0-9a-f]{2})")


class InvalidQueueName(ValueError):
    """A queue name that cannot be mapped to a beanstalkd tube name."""


@lru_cache(maxsize=4096)
def tube_for(queue: str) -> str:
    """The tube name of ``queue``; raise :class:`InvalidQueueName` if it has none."""
    if not isinstance(queue, str) or not queue:
        raise InvalidQueueName(f"queue name must be a non-empty string, not {queue!r}")
    parts = []
    for i, char in enumerate(queue):
        if char in _KEEP and not (i == 0 and char == "-"):
            parts.append(char)
        else:
            parts.extend(f"{_ESCAPE}{byte:02x}" for byte in char.encode("utf-8"))
    tube = "".join(parts)
    if len(tube) > MAX_TUBE_NAME:
        raise InvalidQueueName(
            f"queue name {queue[:60]!r}... maps to a tube name of {len(tube)} bytes; "
            f"beanstalkd allows at most {MAX_TUBE_NAME}"
        )
    return tube


@lru_cache(maxsize=4096)
def queue_for(tube: str) -> str:
    """The queue name that :func:`tube_for` maps to ``tube``."""
    if _ESCAPE not in tube:
        return tube
    out = bytearray()
    i = 0
    while i < len(tube):
        match = _ESCAPED.match(tube, i)
        if match is not None:
            out.append(int(match.group(1), 16))
            i = match.end()
        else:
            out.extend(tube[i].encode("utf-8"))
            i += 1
    return out.decode("utf-8", errors="surrogateescape")
