"""RabbitMQ transports for kombu-core: ``amqp://`` on py-amqp and ``pika://`` on pika.

Importing this package imports no client library; see
:mod:`kombu_transport_amqp.pyamqp` and :mod:`kombu_transport_amqp.pika`.
"""

__all__: list[str] = []
