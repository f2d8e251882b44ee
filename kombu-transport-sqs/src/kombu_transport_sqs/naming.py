"""How Kombu queue and exchange names become SQS queue and SNS topic names.

Kombu 5.7's mapping, kept so both can share queues: the queue-name prefix
is prepended, ``.`` becomes ``-``, ``-`` and ``_`` stay, every other ASCII
punctuation character becomes ``_``; a trailing ``.fifo`` is kept as it is
(it marks a FIFO queue). ``celery.pidbox`` is therefore ``celery-pidbox``.
"""

from __future__ import annotations

import string

__all__ = ("entity_name", "is_fifo", "MAX_NAME_LENGTH")

#: SQS queue names and SNS topic names are at most 80 characters.
MAX_NAME_LENGTH = 80

_TABLE = {ord(c): "_" for c in string.punctuation if c not in "-_."}
_TABLE[ord(".")] = "-"
_FIFO = ".fifo"


def is_fifo(name: str) -> bool:
    """Whether ``name`` names a FIFO queue or topic."""
    return name.endswith(_FIFO)


def entity_name(name: str, prefix: str = "") -> str:
    """The SQS/SNS name of Kombu entity ``name`` under ``prefix``."""
    full = prefix + name
    if is_fifo(full):
        return full[: -len(_FIFO)].translate(_TABLE) + _FIFO
    return full.translate(_TABLE)
