"""Text helpers: fuzzy matching (for "did you mean ...?" hints) and versions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from difflib import SequenceMatcher
from typing import NamedTuple

__all__ = ("escape_regex", "fmatch_best", "fmatch_iter", "pluralize", "version_info_t", "version_string_as_tuple")


def escape_regex(p: str, white: str = "") -> str:
    """Escape every character of ``p`` that is not alphanumeric or in ``white``."""
    return "".join(c if c.isalnum() or c in white else ("\\000" if c == "\000" else "\\" + c) for c in p)


def fmatch_iter(needle: str, haystack: Iterable[str], min_ratio: float = 0.6) -> Iterator[tuple[float, str]]:
    """Yield ``(ratio, candidate)`` for each candidate at least ``min_ratio`` similar to ``needle``."""
    for candidate in haystack:
        ratio = SequenceMatcher(None, needle, candidate).ratio()
        if ratio >= min_ratio:
            yield ratio, candidate


def fmatch_best(needle: str, haystack: Iterable[str], min_ratio: float = 0.6) -> str | None:
    """Return the candidate most similar to ``needle``, or ``None`` if none reaches ``min_ratio``."""
    best = max(fmatch_iter(needle, haystack, min_ratio), default=None)
    return best[1] if best is not None else None


class version_info_t(NamedTuple):
    """A parsed version: ``major.minor.micro`` plus release level and serial."""

    major: int
    minor: int
    micro: int
    releaselevel: str
    serial: str


def version_string_as_tuple(s: str) -> version_info_t:
    """Parse ``"5.3.0rc1"``-style versions into a :class:`version_info_t`."""
    parts = s.split(".", 2) + ["0", "0"]
    major, minor = int(parts[0]), int(parts[1] or 0)
    match = re.match(r"(\d*)(.*)", parts[2])
    micro = int(match.group(1) or 0) if match else 0
    rest = match.group(2) if match else ""
    serial = ""
    if rest.startswith("."):  # "3.3.1.a3.40c32": release level, then serial
        rest, _, serial = rest[1:].partition(".")
    elif "-" in rest:  # "3.3.1a3-40"
        rest, serial = rest.split("-", 1)
    return version_info_t(major, minor, micro, rest, serial)


def pluralize(n: float, text: str, suffix: str = "s") -> str:
    """Return ``text`` with ``suffix`` appended unless ``n`` is 1."""
    return text + suffix if n != 1 else text
