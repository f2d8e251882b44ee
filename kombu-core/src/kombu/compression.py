"""Compression of message bodies, with Kombu 5's functional API.

Compressors come from plugins (:func:`kombu.hookspecs.kombu_compressors`);
the core ships zlib, bzip2 and lzma, plus zstd and brotli when their package
is installed. The compressor's content type travels in the ``compression``
message header.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kombu.exceptions import DecodeError

__all__ = ("register", "encoders", "get_encoder", "get_decoder", "compress", "decompress")

_encoders: dict[str, Callable[[bytes], bytes]] = {}
_decoders: dict[str, Callable[[bytes], bytes]] = {}
_aliases: dict[str, str] = {}
_loaded = False


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from kombu.plugins import registry

    for name, info in registry().compressors.items():
        _encoders.setdefault(info.content_type, info.compress)
        _decoders.setdefault(info.content_type, info.decompress)
        _aliases.setdefault(name, info.content_type)


def register(
    encoder: Callable[[bytes], bytes],
    decoder: Callable[[bytes], bytes],
    content_type: str,
    aliases: Sequence[str] | None = None,
) -> None:
    """Register a compressor at run time under ``content_type`` and ``aliases``."""
    _ensure_loaded()
    _encoders[content_type] = encoder
    _decoders[content_type] = decoder
    for alias in aliases or ():
        _aliases[alias] = content_type


def encoders() -> list[str]:
    """Return the content types of every registered compressor."""
    _ensure_loaded()
    return list(_encoders)


def _resolve(name: str) -> str:
    _ensure_loaded()
    return _aliases.get(name, name)


def get_encoder(t: str) -> tuple[Callable[[bytes], bytes], str]:
    """Return ``(compress, content_type)`` for name or content type ``t``."""
    content_type = _resolve(t)
    try:
        return _encoders[content_type], content_type
    except KeyError:
        raise KeyError(f"No compressor registered for {t!r}") from None


def get_decoder(t: str) -> Callable[[bytes], bytes]:
    """Return the decompress function for name or content type ``t``."""
    try:
        return _decoders[_resolve(t)]
    except KeyError:
        raise KeyError(f"No decompressor registered for {t!r}") from None


def compress(body: bytes | str, content_type: str) -> tuple[bytes, str]:
    """Compress ``body`` with ``content_type``; return ``(data, content_type)``."""
    encoder, ctype = get_encoder(content_type)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return encoder(body), ctype


def decompress(body: bytes | str, content_type: str) -> bytes:
    """Decompress ``body``; raise :class:`DecodeError` when it is corrupt."""
    decoder = get_decoder(content_type)
    if isinstance(body, str):
        body = body.encode("latin-1")
    try:
        return decoder(body)
    except Exception as exc:
        raise DecodeError(f"cannot decompress ({content_type}): {exc}") from exc
