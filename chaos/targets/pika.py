"""pika://: the same shared RabbitMQ as :mod:`chaos.targets.amqp`, through pika (with ``confirm_window``)."""

from __future__ import annotations

from .amqp import RabbitMQTarget


class PikaTarget(RabbitMQTarget):
    name = "pika"
    url_format = "pika://guest:guest@{host}:{port}//"
    client_module = "pika"
    #: pika's at-least-once window is opt-in (it costs pika publish throughput);
    #: without it a cut with publishes in flight loses them.
    transport_options = {"confirm_window": 65536}


TARGET = PikaTarget()
