"""Collection helpers: :class:`EqualityDict` and :class:`HashedSeq`."""

from __future__ import annotations

from typing import Any

__all__ = ("EqualityDict", "HashedSeq", "eqhash")


class HashedSeq(list):  # type: ignore[type-arg]
    """A list that hashes to a precomputed value (for use as a cache key)."""

    __slots__ = ("hashvalue",)

    def __init__(self, *seq: Any) -> None:
        self[:] = seq
        self.hashvalue = hash(seq)

    def __hash__(self) -> int:  # type: ignore[override]
        return self.hashvalue


def eqhash(o: Any) -> Any:
    """Return ``o.__eqhash__()`` if ``o`` defines it, else ``hash(o)``."""
    try:
        return o.__eqhash__()
    except AttributeError:
        return hash(o)


class EqualityDict(dict):  # type: ignore[type-arg]
    """A dict whose keys are looked up by :func:`eqhash` rather than ``hash``."""

    def __getitem__(self, key: Any) -> Any:
        h = eqhash(key)
        if h not in self:
            return self.__missing__(key)
        return super().__getitem__(h)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(eqhash(key), value)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(eqhash(key))

    def __missing__(self, key: Any) -> Any:
        raise KeyError(key)
