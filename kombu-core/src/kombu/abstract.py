"""Declarations that may be bound to a channel."""

from __future__ import annotations

from copy import copy

from kombu.exceptions import NotBoundError

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T", bound="MaybeChannelBound")

__all__ = ("Object", "MaybeChannelBound", "maybe_channel")


def maybe_channel(channel: Any) -> Any:
    """Return ``channel``, or the default channel of a connection."""
    if channel is not None and hasattr(channel, "default_channel"):
        return channel.default_channel
    return channel


class Object:
    """An object described by its ``attrs``: ``(name, type-coercion)`` pairs.

    Keyword arguments named in ``attrs`` are set as attributes; the rest of
    the behaviour (copy, pickle, ``as_dict``) follows from ``attrs``.
    """

    attrs: tuple[tuple[str, Any], ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name, type_ in self.attrs:
            value = kwargs.get(name)
            if value is not None:
                setattr(self, name, type_(value) if type_ else value)
            else:
                try:
                    getattr(self, name)
                except AttributeError:
                    setattr(self, name, None)

    def as_dict(self, recurse: bool = False) -> dict[str, Any]:
        """Return the declaration's attributes as a dict."""

        def f(obj: Any, type_: Any) -> Any:
            if recurse and isinstance(obj, Object):
                return obj.as_dict(recurse=True)
            return type_(obj) if type_ and obj is not None else obj

        return {attr: f(getattr(self, attr), type_) for attr, type_ in self.attrs}

    def __reduce__(self) -> Any:
        return unpickle_dict, (self.__class__, self.as_dict())

    def __copy__(self) -> Any:
        return self.__class__(**self.as_dict())


def unpickle_dict(cls: type, kwargs: dict[str, Any]) -> Any:
    return cls(**kwargs)


class MaybeChannelBound(Object):
    """A declaration that is usable once bound to a channel.

    Calling it with a channel (or connection) returns a bound copy and leaves
    the original unbound; using an unbound one raises
    :class:`~kombu.exceptions.NotBoundError`.
    """

    _channel: Any = None
    _is_bound = False
    can_cache_declaration = False

    def __call__(self: T, channel: Any) -> T:
        return self.bind(channel)

    def bind(self: T, channel: Any) -> T:
        """Return a copy of this declaration bound to ``channel``."""
        return copy(self).maybe_bind(channel)

    def maybe_bind(self: T, channel: Any) -> T:
        """Bind this declaration to ``channel`` in place, unless already bound."""
        if not self.is_bound and channel:
            self._channel = maybe_channel(channel)
            self.when_bound()
            self._is_bound = True
        return self

    def revive(self, channel: Any) -> None:
        """Rebind to ``channel`` after the connection was re-established."""
        if self._is_bound:
            self._channel = channel
            self.when_bound()

    def when_bound(self) -> None:
        """Called after binding; subclasses bind what they contain."""

    def __repr__(self) -> str:
        return self._repr_entity(type(self).__name__)

    def _repr_entity(self, item: str = "") -> str:
        item = item or type(self).__name__
        if self.is_bound:
            return f"<{item} bound to chan:{self.channel.channel_id}>"
        return f"<unbound {item}>"

    @property
    def is_bound(self) -> bool:
        """Whether the declaration is bound to a channel."""
        return self._is_bound and self._channel is not None

    @property
    def channel(self) -> Any:
        """The bound channel; raises :class:`NotBoundError` when unbound."""
        channel = self._channel
        if channel is None:
            raise NotBoundError(f"Can't call method on {type(self).__name__} not bound to a channel")
        if callable(channel) and not hasattr(channel, "basic_publish"):
            channel = self._channel = channel()
        return channel
