"""The core's own plugin: memory://, the built-in serializers and compressors.

Registered through the same hooks third-party plugins implement, so there is
one way in for everything.
"""

from __future__ import annotations

import importlib.util
import pickle
from typing import Any

from kombu.hookspecs import (
    Capabilities,
    CompressorInfo,
    SerializerInfo,
    TransportInfo,
    hookimpl,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    return [
        TransportInfo(
            name="memory",
            schemes=("memory",),
            target="kombu.transport.memory:Transport",
            distribution="kombu-core",
            capabilities=Capabilities(
                priorities=True,
                async_events=True,
                message_ttl=True,
                queue_expires=True,
                max_length=True,
                dead_lettering=True,
            ),
            description="In-process broker on the virtual routing engine",
        )
    ]


def _pickle_dumps(obj: Any) -> bytes:
    from kombu import serialization

    return pickle.dumps(obj, protocol=serialization.pickle_protocol)


def _pickle_loads(data: bytes | str) -> Any:
    if isinstance(data, str):
        data = data.encode("latin-1")
    return pickle.loads(data)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


@hookimpl
def kombu_serializers() -> list[SerializerInfo]:
    from kombu.utils import json

    found = [
        SerializerInfo("json", "application/json", "utf-8", json.dumps, json.loads),
        SerializerInfo(
            "pickle",
            "application/x-python-serialize",
            "binary",
            _pickle_dumps,
            _pickle_loads,
            trusted_only=True,
        ),
    ]
    if importlib.util.find_spec("yaml"):
        import yaml

        found.append(
            SerializerInfo(
                "yaml",
                "application/x-yaml",
                "utf-8",
                yaml.safe_dump,
                yaml.safe_load,
                trusted_only=True,
            )
        )
    if importlib.util.find_spec("msgpack"):
        import msgpack

        found.append(
            SerializerInfo(
                "msgpack",
                "application/x-msgpack",
                "binary",
                lambda obj: msgpack.packb(obj, use_bin_type=True),
                lambda data: msgpack.unpackb(_as_bytes(data), raw=False),
                accepted_by_default=False,
            )
        )
    return found


@hookimpl
def kombu_compressors() -> list[CompressorInfo]:
    import bz2
    import lzma
    import zlib

    found = [
        CompressorInfo("zlib", "application/x-gzip", zlib.compress, zlib.decompress, ("gzip",)),
        CompressorInfo("bzip2", "application/x-bz2", bz2.compress, bz2.decompress, ("bzip",)),
        CompressorInfo("lzma", "application/x-lzma", lzma.compress, lzma.decompress, ("xz",)),
    ]
    if importlib.util.find_spec("zstandard"):
        import zstandard

        found.append(
            CompressorInfo(
                "zstd",
                "application/zstd",
                lambda d: zstandard.ZstdCompressor().compress(d),
                lambda d: zstandard.ZstdDecompressor().decompress(d, max_output_size=1 << 31),
                ("zstandard",),
            )
        )
    if importlib.util.find_spec("brotli"):
        import brotli

        found.append(CompressorInfo("brotli", "application/x-brotli", brotli.compress, brotli.decompress))
    return found
