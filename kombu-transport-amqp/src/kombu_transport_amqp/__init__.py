"""RabbitMQ transports for kombu-core: ``amqp://`` on py-amqp and ``pika://`` on pika.

Importing this package imports no client library; see
:mod:`kombu_transport_amqp.pyamqp` and :mod:`kombu_transport_amqp.pika`.
:class:`PublishNacked` is the error RabbitMQ's refusal of a publish raises on
either transport (also a ``MessageNacked`` on ``amqp://``, a ``NackError`` on
``pika://``).
"""

from ._confirms import PublishNacked

__all__: list[str] = ["PublishNacked"]
