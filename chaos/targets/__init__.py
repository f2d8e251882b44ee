"""Chaos targets: one module per transport, each defining ``TARGET`` (a :class:`chaos.target.Target`).

Adding a transport is adding ``chaos/targets/<name>.py``; nothing else
changes. Modules must be cheap to import (import broker clients inside
methods), since every target module is imported to list them.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..target import Target

__all__ = ("discover",)


def discover(names: list[str] | None = None) -> dict[str, Target]:
    """The targets by name (all of them, or those in ``names``, in that order)."""
    found: dict[str, Target] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if isinstance(target, Target):
            found[target.name] = target
    if names is None:
        return found
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"unknown chaos targets {unknown}; known: {sorted(found)}")
    return {n: found[n] for n in names}
