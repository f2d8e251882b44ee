"""Messaging library for Python, with Kombu's API.

``from kombu import Connection, Exchange, Queue`` and the rest of Kombu 5's
top-level names. Transports, serializers and compressors are plugins found
through the ``kombu`` entry-point group; importing this package imports no
broker client.
"""

from __future__ import annotations

from collections import namedtuple

from kombu import exceptions
from kombu.connection import BrokerConnection, Connection
from kombu.entity import Exchange, Queue, binding
from kombu.message import Message
from kombu.messaging import Consumer, Producer
from kombu.serialization import disable_insecure_serializers, enable_insecure_serializers
from kombu.utils.uuid import uuid

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "6.0.0a1"


#: The parts of :data:`__version__` (Kombu 5's ``kombu.version_info_t``).
version_info_t = namedtuple("version_info_t", ("major", "minor", "micro", "releaselevel", "serial"))

VERSION = version_info = version_info_t(6, 0, 0, "a1", "")

__all__ = (
    "Connection",
    "BrokerConnection",
    "Exchange",
    "Queue",
    "binding",
    "Producer",
    "Consumer",
    "Message",
    "pools",
    "eventloop",
    "uuid",
    "parse_url",
    "enable_insecure_serializers",
    "disable_insecure_serializers",
    "serialization",
    "compression",
    "exceptions",
    "connections",
    "producers",
)

_LAZY = {
    "pools": ("kombu.pools", None),
    "eventloop": ("kombu.common", "eventloop"),
    "serialization": ("kombu.serialization", None),
    "compression": ("kombu.compression", None),
    "parse_url": ("kombu.utils.url", "parse_url"),
    "connections": ("kombu.pools", "connections"),
    "producers": ("kombu.pools", "producers"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'kombu' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module
