"""Helpers used by Kombu and by applications built on it.

The names Kombu 5 re-exports here (``from kombu.utils import cached_property``)
are loaded on first access, so ``import kombu.utils`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module

# Eager: the submodule ``kombu.utils.uuid`` would otherwise shadow the function.
from .uuid import uuid

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = (
    "EqualityDict",
    "cached_property",
    "emergency_dump_state",
    "fileno",
    "fxrange",
    "fxrangemax",
    "maybe_fileno",
    "maybe_list",
    "nested",
    "register_after_fork",
    "reprcall",
    "reprkwargs",
    "retry_over_time",
    "symbol_by_name",
    "uuid",
)

_LAZY = {
    "EqualityDict": "collections",
    "maybe_list": "functional",
    "fxrange": "functional",
    "fxrangemax": "functional",
    "retry_over_time": "functional",
    "reprkwargs": "functional",
    "reprcall": "functional",
    "emergency_dump_state": "div",
    "cached_property": "objects",
    "register_after_fork": "compat",
    "nested": "compat",
    "fileno": "compat",
    "maybe_fileno": "compat",
    "symbol_by_name": "imports",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
