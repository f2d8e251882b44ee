"""Virtual transports: the core's routing engine over storage primitives."""

from kombu.transport.virtual.base import (
    AbstractChannel,
    Base64,
    BrokerState,
    Channel,
    Empty,
    Management,
    Message,
    NotEquivalentError,
    QoS,
    Transport,
    UndeliverableWarning,
    binding_key_t,
    queue_binding_t,
    queue_declare_ok_t,
)

__all__ = (
    "AbstractChannel",
    "Base64",
    "BrokerState",
    "Channel",
    "Empty",
    "Management",
    "Message",
    "NotEquivalentError",
    "QoS",
    "Transport",
    "UndeliverableWarning",
    "queue_declare_ok_t",
    "binding_key_t",
    "queue_binding_t",
)
