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
    # The kit's fault-proxy tests cut long-lived TCP connections. SQS is
    # HTTP: moto closes the connection after every response
    # (quirks.CONNECTION_CLOSE) and botocore retries a request cut midway,
    # so there is no connection to cut and nothing for the application to
    # see. test_faults.py tests what a network fault means here instead.
    network = False
