"""pika://: the same shared RabbitMQ as :mod:`chaos.targets.amqp`, through pika."""

from __future__ import annotations

from .amqp import RabbitMQTarget


class PikaTarget(RabbitMQTarget):
    name = "pika"
    scheme = "pika"
    client_module = "pika"


TARGET = PikaTarget()
