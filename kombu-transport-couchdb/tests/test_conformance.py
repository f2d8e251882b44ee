"""The core's conformance kit against the real server (pouchdb-server in the tests)."""

from __future__ import annotations

from kombu.testing import TransportConformance

from .conftest import URL


class TestCouchDBConformance(TransportConformance):
    url = URL
    # Short leases so the kit's redelivery-after-death tests finish in time.
    transport_options = {"visibility_timeout": 2, "polling_interval": 0.5}
    # Every claim is a view query and a write on a single-threaded server: with the whole
    # suite on 2 cores, 15 messages through four queues once took longer than the default 5 s.
    timeout = 15.0
