"""The core's conformance kit against SQS (moto)."""

from __future__ import annotations

from kombu.testing import TransportConformance

from .conftest import URL


class TestSQSConformance(TransportConformance):
    url = URL
    # Short leases so the redelivery-after-death tests finish; long polls of
    # at most 1 s keep drain timeouts tight.
    transport_options = {"visibility_timeout": 3, "wait_time_seconds": 1, "polling_interval": 0.1}
    fifo = False
    redelivery_timeout = 15.0
    name_prefix = "kit-sqs"
