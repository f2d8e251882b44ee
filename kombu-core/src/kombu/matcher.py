"""Matching names against patterns: ``glob`` (shell-style) and ``pcre`` (regular expressions).

Used by :mod:`kombu.pidbox` to address nodes by pattern::

    match("worker1@host", "worker*", "glob")   # True
    match("worker1@host", r"worker\\d", "pcre")  # True (anchored at the start)

More matchers can be added with :func:`register`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any, ClassVar

from .utils.encoding import bytes_to_str

__all__ = ("MatcherNotInstalled", "MatcherRegistry", "match", "register", "registry", "unregister")

MatcherFunction = Callable[..., Any]


class MatcherNotInstalled(Exception):
    """No matcher is registered under the requested name."""


class MatcherRegistry:
    """Named matchers; ``match(data, pattern, matcher)`` runs the one named ``matcher``."""

    MatcherNotInstalled = MatcherNotInstalled
    #: Matchers whose function takes ``(pattern, data)`` rather than ``(data, pattern)``.
    matcher_pattern_first: ClassVar[list[str]] = ["pcre"]

    def __init__(self) -> None:
        self._matchers: dict[str, MatcherFunction] = {}
        self._default_matcher: MatcherFunction | None = None
        self._default_name: str | None = None

    def register(self, name: str, matcher: MatcherFunction) -> None:
        """Register ``matcher`` under ``name`` (replacing any matcher of that name)."""
        self._matchers[name] = matcher

    def unregister(self, name: str) -> None:
        """Remove the matcher ``name``; raise :class:`MatcherNotInstalled` if there is none."""
        try:
            self._matchers.pop(name)
        except KeyError:
            raise self.MatcherNotInstalled(f"No matcher installed for {name}") from None

    def _set_default_matcher(self, name: str) -> None:
        try:
            self._default_matcher = self._matchers[name]
            self._default_name = name
        except KeyError:
            raise self.MatcherNotInstalled(f"No matcher installed for {name}") from None

    def match(
        self, data: Any, pattern: Any, matcher: str | None = None, matcher_kwargs: dict[str, Any] | None = None
    ) -> bool:
        """Whether ``data`` matches ``pattern`` with the matcher named ``matcher`` (default: glob).

        Empty data or pattern never match. Bytes are decoded as UTF-8.
        """
        if not (data and pattern):
            return False
        name = matcher or self._default_name
        try:
            fun = self._matchers[name] if name is not None else self._default_matcher
        except KeyError:
            raise self.MatcherNotInstalled(f"No matcher installed for {name}") from None
        if fun is None:
            raise self.MatcherNotInstalled("No default matcher")
        data, pattern = bytes_to_str(data), bytes_to_str(pattern)
        kwargs = matcher_kwargs or {}
        if name in self.matcher_pattern_first:
            return bool(fun(pattern, data, **kwargs))
        return bool(fun(data, pattern, **kwargs))


#: The global registry, with ``glob`` (the default) and ``pcre``.
registry = MatcherRegistry()
registry.register("glob", fnmatch.fnmatch)
registry.register("pcre", re.match)
registry._set_default_matcher("glob")

match = registry.match
register = registry.register
unregister = registry.unregister


def register_glob() -> None:
    """Register the ``glob`` matcher (done on import)."""
    registry.register("glob", fnmatch.fnmatch)


def register_pcre() -> None:
    """Register the ``pcre`` matcher (done on import)."""
    registry.register("pcre", re.match)
