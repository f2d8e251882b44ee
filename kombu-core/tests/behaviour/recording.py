"""Shared by the scenarios (not a scenario): the ``result`` they build and ``attempt``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: What a scenario leaves: JSON-able values by name.
Result = dict[str, Any]


def attempter(result: Result, detail: int | None = None) -> Callable[[str, Callable[[], Any]], None]:
    """Return ``attempt(name, fn)``, which stores ``fn()`` in ``result[name]``.

    When ``fn`` raises, ``result[name]`` is ``['raised', <exception class name>]``,
    followed by the first ``detail`` characters of the message if ``detail`` is given;
    the scenario goes on either way.
    """

    def attempt(name: str, fn: Callable[[], Any]) -> None:
        try:
            result[name] = fn()
        except Exception as exc:
            result[name] = ["raised", type(exc).__name__]
            if detail is not None:
                result[name].append(str(exc)[:detail])

    return attempt
