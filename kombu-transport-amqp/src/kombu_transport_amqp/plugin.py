"""The ``kombu`` entry-point plugin: announces ``amqp://`` (py-amqp) and ``pika://``.

Imports neither client library; the core imports the transport module when
a connection of one of these schemes is made.
"""

from __future__ import annotations

from kombu.hookspecs import Capabilities, TransportInfo, hookimpl

__all__ = ("kombu_transports", "CAPABILITIES")

#: RabbitMQ routes natively; both transports share these flags.
CAPABILITIES = Capabilities(
    exchange_types=frozenset({"direct", "topic", "fanout", "headers"}),
    priorities=True,
    message_ttl=True,
    queue_expires=True,
    max_length=True,
    dead_lettering=True,
    delayed_delivery=False,
    native_acks=True,
    persistent_declarations=True,
    async_events=True,
    heartbeats=True,
)


@hookimpl
def kombu_transports() -> list[TransportInfo]:
    """``amqp``/``pyamqp``/``amqps`` on py-amqp and ``pika`` on pika."""
    return [
        TransportInfo(
            name="amqp",
            schemes=("amqp", "pyamqp", "amqps"),
            target="kombu_transport_amqp.pyamqp:Transport",
            distribution="kombu-transport-amqp",
            client_package="amqp",
            kombu_modules=("pyamqp", "amqp"),
            capabilities=CAPABILITIES,
            description="RabbitMQ (AMQP 0-9-1) through py-amqp; amqps:// for TLS",
        ),
        TransportInfo(
            name="pika",
            schemes=("pika",),
            target="kombu_transport_amqp.pika:Transport",
            distribution="kombu-transport-amqp",
            client_package="pika",
            kombu_modules=("pika",),
            capabilities=Capabilities(
                exchange_types=CAPABILITIES.exchange_types,
                priorities=True,
                message_ttl=True,
                queue_expires=True,
                max_length=True,
                dead_lettering=True,
                delayed_delivery=False,
                native_acks=True,
                persistent_declarations=True,
                async_events=True,
                heartbeats=True,
            ),
            description="RabbitMQ (AMQP 0-9-1) through pika's blocking connection",
        ),
    ]
