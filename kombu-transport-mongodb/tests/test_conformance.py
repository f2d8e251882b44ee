"""The core's conformance kit against the MongoDB-compatible server."""

from __future__ import annotations

import pytest
from kombu.testing import TransportConformance

from .conftest import MONGODB_URL, require_mongodb


@pytest.fixture(autouse=True)
def _needs_mongodb() -> None:
    require_mongodb()


class TestMongoDBConformance(TransportConformance):
    url = MONGODB_URL
    # Short leases so that the kit's redelivery-after-death tests finish quickly.
    transport_options = {"visibility_timeout": 3, "restore_interval": 0.5, "polling_interval": 0.1}
    redelivery_timeout = 15.0
