"""The conformance kit's test areas, one mixin class per area.

Each class is a :class:`kombu.testing.base.ConformanceBase`; a transport's
test class may subclass :class:`kombu.testing.TransportConformance` (every
area) or pick areas, e.g.::

    class TestMyRouting(RoutingConformance, DeclareConformance):
        url = "my://localhost"
"""

from __future__ import annotations

from .acks import (
    AcknowledgementConformance,
    PrefetchConformance,
    RedeliveryIntegrityConformance,
)
from .capabilities import CapabilitiesConformance
from .declare import DeclareConformance
from .faults import ConnectionFaultConformance
from .features import (
    MessageTTLConformance,
    PriorityConformance,
    PurgeSizeConformance,
    QueueExpiresConformance,
)
from .messaging import ConsumerConformance, PublishConsumeConformance
from .patterns import PatternsConformance
from .policies import DeadLetterConformance, MaxLengthConformance
from .properties import PropertiesConformance
from .routing import RoutingConformance
from .serialization import (
    BadPayloadConformance,
    CompressionConformance,
    SerializationConformance,
)

__all__ = (
    "AREAS",
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
    "TransportConformance",
)

#: every area, in the order TransportConformance composes them.
AREAS: tuple[type, ...] = (
    DeclareConformance,
    PublishConsumeConformance,
    ConsumerConformance,
    AcknowledgementConformance,
    RedeliveryIntegrityConformance,
    PrefetchConformance,
    RoutingConformance,
    PropertiesConformance,
    PriorityConformance,
    MessageTTLConformance,
    QueueExpiresConformance,
    MaxLengthConformance,
    DeadLetterConformance,
    PurgeSizeConformance,
    SerializationConformance,
    CompressionConformance,
    BadPayloadConformance,
    CapabilitiesConformance,
    ConnectionFaultConformance,
    PatternsConformance,
)


class TransportConformance(*AREAS):  # type: ignore[misc]
    """Every conformance area at once. Subclass it as ``Test...`` and set ``url``::

        from kombu.testing import TransportConformance

        class TestRedisConformance(TransportConformance):
            url = "redis://127.0.0.1:6379/15"
            transport_options = {"visibility_timeout": 2}

    Capabilities come from the installed plugin for the URL's scheme unless
    the class sets ``capabilities``. Fault-proxy tests run when the URL names
    a network host. See :mod:`kombu.testing.base` for every knob.
    """
