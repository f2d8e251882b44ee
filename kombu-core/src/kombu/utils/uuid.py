"""Unique identifiers."""

from __future__ import annotations

from collections.abc import Callable

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def uuid(_uuid: Callable[[], Any] | None = None) -> str:
    """Return a new random UUID as a string, e.g. ``'5b4c...-...'``."""
    if _uuid is None:
        from uuid import uuid4  # imported on first use: keeps `import kombu` cheap

        return str(uuid4())
    return str(_uuid())
