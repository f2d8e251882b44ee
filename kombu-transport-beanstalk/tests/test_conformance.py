"""The core's conformance kit against a real beanstalkd.

The kit sends a 200 kB message; beanstalkd's default ``max-job-size`` is
65535 bytes, so the kit runs on a private server started with ``-z 1048576``
(the shared one on 11300 is started by scripts/services.sh and never
restarted by a test). ``KOMBU_BEANSTALK_CONFORMANCE_URL`` points it elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kombu.testing import TransportConformance

from .server import PrivateBeanstalkd

EXTERNAL_URL = os.environ.get("KOMBU_BEANSTALK_CONFORMANCE_URL")


@pytest.fixture(autouse=True)
def _server(request: pytest.FixtureRequest) -> Iterator[None]:
    if EXTERNAL_URL:
        yield
        return
    server: PrivateBeanstalkd = request.getfixturevalue("private_beanstalkd")
    request.cls.url = server.url
    yield


class TestBeanstalkConformance(TransportConformance):
    url = EXTERNAL_URL or "beanstalk://127.0.0.1:11300"
    # A short TTR so the kit's redelivery bounds are generous multiples of it.
    transport_options = {"visibility_timeout": 3}
    redelivery_timeout = 15.0
