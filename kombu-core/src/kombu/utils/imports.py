"""Importing objects by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from kombu.exceptions import reraise  # Kombu 5 exports it here too

__all__ = ("symbol_by_name", "reraise")


def symbol_by_name(
    name: Any,
    aliases: Mapping[str, str] | None = None,
    imp: Callable[..., Any] | None = None,
    package: str | None = None,
    sep: str = ".",
    default: Any = None,
    **kwargs: Any,
) -> Any:
    """Return the object a dotted path names.

    ``"pkg.module:attr"`` and ``"pkg.module.attr"`` both work; ``aliases``
    maps short names to paths first. A ``name`` that is not a string is
    returned unchanged (so a class can be passed where a path is expected).
    When the import or attribute lookup fails, ``default`` is returned if
    given, else the ``ImportError``/``AttributeError`` propagates. A relative
    path without ``package`` raises ``ValueError``.
    """
    if not isinstance(name, str):
        return name
    if aliases:
        name = aliases.get(name) or name
    if imp is None:
        imp = importlib.import_module
    separator = ":" if ":" in name else sep
    module_name, _, attr = name.rpartition(separator)
    if not module_name:  # "name" or ":name": a module (``package`` itself when given), as in Kombu 5
        attr, module_name = "", package or attr
    try:
        try:
            module = imp(module_name, package=package, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Couldn't import {name!r}: {exc}") from exc
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError):
        if default is None:
            raise
    return default
