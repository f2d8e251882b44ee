"""The core's conformance kit against the real server (pouchdb-server in the tests)."""

from __future__ import annotations

from kombu.testing import TransportConformance

from .conftest import URL


class TestCouchDBConformance(TransportConformance):
    url = URL
    # Short leases so the kit's redelivery-after-death tests finish in time.
    transport_options = {"visibility_timeout": 2, "polling_interval": 0.5}
