"""Object helpers: :class:`cached_property`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ("cached_property",)

T = TypeVar("T")

_MISSING = object()


class cached_property(functools.cached_property[T]):
    """A property computed once per instance and then stored on it.

    A subclass of :class:`functools.cached_property` (as in Kombu 5), so
    ``isinstance`` checks for that keep working; unlike it, this one takes
    no lock on reads and supports ``setter``/``deleter`` hooks.

    The first read calls ``fget(obj)`` and stores the result in the instance
    ``__dict__``; later reads return the stored value. Assigning stores a new
    value and deleting forgets it, so the next read recomputes.

    ``@prop.setter`` registers ``fset(obj, value)``, whose return value is
    what gets stored; ``@prop.deleter`` registers
    ``fdel(obj, value)``, called with the cached value when one is forgotten.
    Without hooks the descriptor stays out of the way after the first read
    (a plain attribute lookup), which keeps hot paths fast.
    """

    def __init__(
        self,
        fget: Callable[[Any], T] | None = None,
        fset: Callable[[Any, Any], Any] | None = None,
        fdel: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.fget = fget
        self.func = fget  # type: ignore[assignment]  # functools.cached_property's name for it
        self.fset = fset
        self.fdel = fdel
        self.attrname: str | None = getattr(fget, "__name__", None)
        self.__doc__ = getattr(fget, "__doc__", None)
        self.__module__ = getattr(fget, "__module__", None)  # type: ignore[assignment]
        if fset is not None or fdel is not None:
            # Only a descriptor with __set__ sees assignments; switch to it.
            self.__class__ = _cached_property_with_hooks  # type: ignore[assignment, unused-ignore]

    def __call__(self, fget: Callable[[Any], T]) -> cached_property[T]:
        """Allow ``@cached_property()`` with parentheses."""
        return type(self)(fget, self.fset, self.fdel)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> cached_property[T]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.attrname
        cache = obj.__dict__
        value = cache.get(name, _MISSING)
        if value is _MISSING:
            value = self.fget(obj)  # type: ignore[misc]
            cache[name] = value
        return value

    def setter(self, fset: Callable[[Any, Any], Any]) -> cached_property[T]:
        """Return a copy of this property that calls ``fset`` on assignment."""
        prop = cached_property(self.fget, fset, self.fdel)
        prop.attrname = self.attrname
        return prop

    def deleter(self, fdel: Callable[[Any, Any], Any]) -> cached_property[T]:
        """Return a copy of this property that calls ``fdel`` on deletion."""
        prop = cached_property(self.fget, self.fset, fdel)
        prop.attrname = self.attrname
        return prop


class _cached_property_with_hooks(cached_property[T]):
    """A :class:`cached_property` with a setter or deleter (a data descriptor)."""

    def __set__(self, obj: Any, value: Any) -> None:
        if self.fset is not None:
            value = self.fset(obj, value)
        obj.__dict__[self.attrname] = value

    def __delete__(self, obj: Any) -> None:
        value = obj.__dict__.pop(self.attrname, _MISSING)
        if self.fdel is not None and value is not _MISSING:
            self.fdel(obj, value)
