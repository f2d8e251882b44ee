"""The core's conformance kit against the real RabbitMQ, on both transports."""

from __future__ import annotations

from kombu.testing import TransportConformance

from .conftest import AMQP_URL, PIKA_URL


class TestPyAmqpConformance(TransportConformance):
    url = AMQP_URL


class TestPikaConformance(TransportConformance):
    url = PIKA_URL
