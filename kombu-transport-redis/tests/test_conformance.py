"""The core's conformance kit against the real Redis server."""

from __future__ import annotations

import os

import pytest
from kombu.testing import TransportConformance
from kombu.testing.services import missing_service

from .conftest import redis_available

URL = os.environ.get("KOMBU_REDIS_CONFORMANCE_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if not redis_available(URL):
        missing_service(f"no Redis server at {URL}")


class TestRedisConformance(TransportConformance):
    url = URL
    # Short enough that the kit's redelivery-after-death tests finish; a fault-proxy cut
    # can leave a socket silently dead (no RST reaches us), which the health check finds.
    # The kit's priority area assumes AMQP's order (highest number first); redis's
    # default is Kombu's (lowest first), tested in test_parity.py.
    transport_options = {
        "visibility_timeout": 2,
        "unacked_restore_interval": 0.5,
        "unacked_mutex_expire": 3,
        "health_check_interval": 2,
        "priority_order": "amqp",
    }
