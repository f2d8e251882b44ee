"""Unique identifiers."""

from __future__ import annotations

from uuid import uuid4


def uuid(_uuid: object = uuid4) -> str:
    """Return a new random UUID as a string, e.g. ``'5b4c...-...'``."""
    return str(_uuid())  # type: ignore[operator]
