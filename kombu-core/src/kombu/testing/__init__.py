"""The conformance kit: the behaviour every Kombu transport must have, as test classes.

A transport's test suite subclasses :class:`TransportConformance` (or some of
the area mixins of :mod:`kombu.testing.suites`) and names its broker::

    from kombu.testing import TransportConformance

    class TestRedisConformance(TransportConformance):
        url = "redis://127.0.0.1:6379/15"

Class attributes a transport sets (see :mod:`kombu.testing.base`): ``url``
(required), ``transport_options``, ``capabilities`` (default: the installed
plugin's flags for the URL's scheme), ``network`` and ``broker_address``
(default: derived from the URL; enable the fault-proxy tests), ``fifo``, and
the bounds ``timeout``, ``quiet_period`` and ``redelivery_timeout`` (seconds;
a transport that redelivers after a visibility timeout sets
``redelivery_timeout`` above it, or shortens the timeout through
``transport_options``).

Areas (:mod:`kombu.testing.suites`), each usable on its own together with
any other: ``DeclareConformance``, ``PublishConsumeConformance``,
``ConsumerConformance``, ``AcknowledgementConformance``,
``RedeliveryIntegrityConformance``, ``PrefetchConformance``,
``RoutingConformance``, ``PropertiesConformance``, ``PriorityConformance``,
``MessageTTLConformance``, ``QueueExpiresConformance``,
``MaxLengthConformance``, ``DeadLetterConformance``,
``PurgeSizeConformance``, ``SerializationConformance``,
``CompressionConformance``, ``BadPayloadConformance``,
``CapabilitiesConformance``, ``ConnectionFaultConformance`` and
``PatternsConformance`` (Kombu's higher-level API on the broker:
SimpleQueue, pooled producers, ConsumerMixin, pidbox, the event loop).

Capability-driven tests (:func:`kombu.testing.base.requires`): what a
transport declares is tested for its behaviour; for priorities, message TTL, queue expiry, max length,
dead-lettering and each of the four exchange types it does not declare, using the feature must raise
:class:`kombu.exceptions.CapabilityNotSupported`. Routing is checked against
AMQP 0-9-1 (``kombu.testing.suites.routing.amqp_topic_match`` is the
reference for topics).

The pytest plugin :mod:`kombu.testing.plugin` (entry point ``pytest11``)
provides the ``fault_proxy``, ``kombu_url`` and ``kombu_connection``
fixtures. :func:`kombu.testing.services.require_service` is the one rule for
a test that needs a real server: it fails under ``CI`` and skips elsewhere.
This package imports lazily: importing it (as pytest does for the
plugin) loads no broker client and none of the kit's test classes.
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
    "DeadLetterConformance",
    "DeclareConformance",
    "MaxLengthConformance",
    "MessageTTLConformance",
    "PatternsConformance",
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
