"""The core's conformance kit against the real RabbitMQ, on both transports."""

from __future__ import annotations

from kombu.testing import TransportConformance
from kombu_transport_amqp import PublishNacked

from .conftest import AMQP_URL, PIKA_URL


class TestPyAmqpConformance(TransportConformance):
    url = AMQP_URL
    publish_refused_errors = (PublishNacked,)


class TestPikaConformance(TransportConformance):
    url = PIKA_URL
    publish_refused_errors = (PublishNacked,)
