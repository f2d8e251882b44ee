"""Serialization of message bodies.

Serializers come from plugins (:func:`kombu.hookspecs.kombu_serializers`);
the core's own are json (the default), pickle, yaml, msgpack and raw. This
module keeps Kombu 5's functional API: :func:`dumps`, :func:`loads`,
:func:`register`, :func:`unregister`, :func:`prepare_accept_content`,
:func:`enable_insecure_serializers`, :func:`disable_insecure_serializers`.

Decoding refuses a content type the consumer did not accept with
:class:`~kombu.exceptions.ContentDisallowed`; a consumer without an
``accept`` list refuses pickle, yaml and msgpack unless they were enabled
with :func:`enable_insecure_serializers`.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable

from kombu.exceptions import (
    ContentDisallowed,
    DecodeError,
    EncodeError,
    SerializerNotInstalled,
)

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = (  # noqa: F822 - "pickle" is provided lazily by __getattr__
    "SerializerRegistry",
    "registry",
    "dumps",
    "loads",
    "register",
    "unregister",
    "prepare_accept_content",
    "enable_insecure_serializers",
    "disable_insecure_serializers",
    "TRUSTED_CONTENT",
    "pickle",
)


def __getattr__(name: str) -> Any:
    # ``pickle`` and ``pickle_protocol`` are Kombu 5 names; loading pickle
    # only when asked keeps `import kombu` cheap.
    if name in ("pickle", "pickle_protocol"):
        import pickle

        if name == "pickle":
            return pickle
        import os

        # Kombu 5: the PICKLE_PROTOCOL environment variable chooses the protocol.
        return int(os.environ.get("PICKLE_PROTOCOL", pickle.DEFAULT_PROTOCOL))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Raw content that needs no decoder and is always accepted.
TRUSTED_CONTENT = frozenset({"application/data", "application/text"})
SKIP_DECODE = frozenset({"binary", "ascii-8bit"})
INSECURE = ("pickle", "yaml", "msgpack")


class SerializerRegistry:
    """Encoders and decoders by name and content type."""

    def __init__(self) -> None:
        # The tables are filled from the plugins on first use; the properties below load them, so
        # code that reads them directly (Celery reads ``registry._encoders``) sees every plugin.
        self._encoder_table: dict[str, tuple[str, str, Callable[[Any], Any]]] = {}
        self._decoder_table: dict[str, Callable[[Any], Any]] = {}
        self._name_to_type: dict[str, str] = {}
        self._type_to_name: dict[str, str] = {}
        self._disabled: set[str] = set()
        self.default_serializer = "json"
        self._loaded = False

    @property
    def _encoders(self) -> dict[str, tuple[str, str, Callable[[Any], Any]]]:
        """``name -> (content_type, content_encoding, encoder)`` for every serializer (Kombu 5's table)."""
        self._ensure_loaded()
        return self._encoder_table

    @property
    def _decoders(self) -> dict[str, Callable[[Any], Any]]:
        """``content_type -> decoder`` for every serializer (Kombu 5's table)."""
        self._ensure_loaded()
        return self._decoder_table

    @property
    def _disabled_content_types(self) -> set[str]:
        """Content types refused to consumers without an ``accept`` list."""
        self._ensure_loaded()
        return self._disabled

    @property
    def name_to_type(self) -> dict[str, str]:
        """Serializer name to content type."""
        self._ensure_loaded()
        return self._name_to_type

    @property
    def type_to_name(self) -> dict[str, str]:
        """Content type to serializer name."""
        self._ensure_loaded()
        return self._type_to_name

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from kombu.plugins import registry as plugin_registry

        seen: set[int] = set()
        for name, info in plugin_registry().serializers.items():
            self._add(name, info.encode, info.decode, info.content_type, info.content_encoding)
            if id(info) not in seen:
                seen.add(id(info))
                if not info.default_accept:
                    self._disabled.add(info.content_type)

    def _add(self, name: str, encoder: Any, decoder: Any, content_type: str, content_encoding: str) -> None:
        if encoder is not None:
            self._encoder_table[name] = (content_type, content_encoding, encoder)
        if decoder is not None:
            self._decoder_table[content_type] = decoder
        self._name_to_type[name] = content_type
        self._type_to_name.setdefault(content_type, name)

    def register(
        self,
        name: str,
        encoder: Callable[[Any], Any] | None,
        decoder: Callable[[Any], Any] | None,
        content_type: str,
        content_encoding: str = "utf-8",
    ) -> None:
        """Register a serializer at run time (Kombu 5's ``register``)."""
        self._ensure_loaded()
        self._add(name, encoder, decoder, content_type, content_encoding)
        self._type_to_name[content_type] = name

    def unregister(self, name: str) -> None:
        """Remove the serializer called ``name``; raise if there is none."""
        self._ensure_loaded()
        try:
            content_type = self._name_to_type.pop(name)
        except KeyError:
            raise SerializerNotInstalled(f"No encoder/decoder installed for {name}") from None
        self._encoder_table.pop(name, None)
        self._decoder_table.pop(content_type, None)
        self._type_to_name.pop(content_type, None)

    def _set_default_serializer(self, name: str) -> None:
        self._ensure_loaded()
        if name not in self._encoder_table:
            raise SerializerNotInstalled(f"No encoder installed for {name}")
        self.default_serializer = name

    def enable(self, name: str) -> None:
        """Let consumers without an ``accept`` list decode ``name``."""
        self._ensure_loaded()
        self._disabled.discard(self._name_to_type.get(name, name))

    def disable(self, name: str) -> None:
        """Refuse ``name`` for consumers without an ``accept`` list."""
        self._ensure_loaded()
        self._disabled.add(self._name_to_type.get(name, name))

    def dumps(self, data: Any, serializer: str | None = None) -> tuple[str, str, bytes | str]:
        """Encode ``data``; return ``(content_type, content_encoding, payload)``.

        Without a serializer, ``bytes`` pass through as ``application/data``
        and ``str`` as ``text/plain``; anything else uses the default (json).
        """
        if serializer == "raw" or (serializer is None and isinstance(data, (bytes, str))):
            return raw_encode(data)
        self._ensure_loaded()
        name = serializer or self.default_serializer
        try:
            content_type, content_encoding, encoder = self._encoder_table[name]
        except KeyError:
            raise SerializerNotInstalled(f"No encoder installed for {name}") from None
        try:
            payload = encoder(data)
        except Exception as exc:
            raise EncodeError(f"{name}: {exc}") from exc
        return content_type, content_encoding, payload

    def loads(
        self,
        data: bytes | str | None,
        content_type: str | None,
        content_encoding: str | None,
        accept: Iterable[str] | None = None,
        force: bool = False,
        _trusted_content: frozenset[str] = TRUSTED_CONTENT,
    ) -> Any:
        """Decode ``data`` of ``content_type``.

        Raises :class:`ContentDisallowed` when the content type is not in
        ``accept`` (or, with no ``accept``, is disabled), and
        :class:`DecodeError` when the payload cannot be decoded.
        """
        self._ensure_loaded()
        content_type = content_type or "application/data"
        if accept is not None:
            if content_type not in _trusted_content and content_type not in accept:
                raise ContentDisallowed(
                    f"Refusing to deserialize untrusted content of type {content_type} "
                    f"({self._type_to_name.get(content_type, content_type)!r} is not accepted)"
                )
        elif content_type in self._disabled and not force:
            raise ContentDisallowed(
                f"Refusing to deserialize disabled content of type {content_type} "
                f"(enable it with accept=[{self._type_to_name.get(content_type, content_type)!r}])"
            )
        if not data:
            return data
        decoder = self._decoder_table.get(content_type)
        try:
            if decoder is not None:
                return decoder(data)
            encoding = (content_encoding or "utf-8").lower()
            if encoding not in SKIP_DECODE and not isinstance(data, str):
                return codecs.decode(data, encoding)
        except Exception as exc:
            raise DecodeError(f"{content_type}: {exc}") from exc
        return data


def raw_encode(data: bytes | str) -> tuple[str, str, bytes | str]:
    """Describe raw ``data``: bytes as ``application/data``, text as ``text/plain``."""
    if isinstance(data, bytes):
        return "application/data", "binary", data
    return "text/plain", "utf-8", data


registry = SerializerRegistry()
dumps = registry.dumps
loads = registry.loads
register = registry.register
unregister = registry.unregister


def prepare_accept_content(
    content_types: Iterable[str] | None,
    name_to_type: dict[str, str] | None = None,
) -> set[str] | None:
    """Turn a list of serializer names and/or content types into content types."""
    if content_types is None:
        return None
    if name_to_type is None:
        registry._ensure_loaded()
        name_to_type = registry.name_to_type
    out = set()
    for ctype in content_types:
        if ctype not in name_to_type and "/" not in ctype:
            raise SerializerNotInstalled(f"No encoder/decoder installed for {ctype}")
        out.add(name_to_type.get(ctype, ctype))
    return out


def enable_insecure_serializers(choices: Iterable[str] = INSECURE) -> None:
    """Let consumers without an ``accept`` list decode ``choices`` too."""
    for choice in choices:
        try:
            registry.enable(choice)
        except KeyError:
            pass


def disable_insecure_serializers(allowed: Iterable[str] | None = ("json",)) -> None:
    """Refuse every serializer but ``allowed`` for consumers without ``accept``."""
    registry._ensure_loaded()
    for name in list(registry.name_to_type):
        registry.disable(name)
    for name in allowed or ():
        registry.enable(name)
