"""The conformance kit: the behaviour every Kombu transport must have, as test classes.

A transport's test suite subclasses :class:`TransportConformance` (or some of
the area mixins of :mod:`kombu.testing.suites`) and names its broker::

    from kombu.testing import TransportConformance

    class TestRedisConformance(TransportConformance):
        url = "redis://127.0.0.1:6379/15"

The pytest plugin :mod:`kombu.testing.plugin` (entry point ``pytest11``)
provides the ``fault_proxy`` and ``kombu_connection`` fixtures the classes
use. This package imports lazily: importing it (as pytest does for the
plugin) loads neither ``kombu.connection`` nor any broker client.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = (
    "TransportConformance",
    "ConformanceBase",
    "Recorder",
    "FaultProxy",
    "AcknowledgementConformance",
    "BadPayloadConformance",
    "CapabilitiesConformance",
    "CompressionConformance",
    "ConnectionFaultConformance",
    "ConsumerConformance",
    "DeclareConformance",
    "MessageTTLConformance",
    "PrefetchConformance",
    "PriorityConformance",
    "PropertiesConformance",
    "PublishConsumeConformance",
    "PurgeSizeConformance",
    "QueueExpiresConformance",
    "RedeliveryIntegrityConformance",
    "RoutingConformance",
    "SerializationConformance",
)

_WHERE = {
    "ConformanceBase": ".base",
    "Recorder": ".base",
    "FaultProxy": ".proxy",
}


def __getattr__(name: str) -> Any:
    """Import the kit's classes on first access (PEP 562)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_WHERE.get(name, ".suites"), __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
