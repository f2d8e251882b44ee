"""Shared fixtures of the beanstalk transport's tests: the servers and a raw client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest
from kombu.testing.services import missing_service, require_service, tcp_probe

from .server import PrivateBeanstalkd

HOST = os.environ.get("BEANSTALK_HOST", "127.0.0.1")
PORT = int(os.environ.get("BEANSTALK_PORT", "11300"))
URL = f"beanstalk://{HOST}:{PORT}"


def beanstalkd_probe(host: str = HOST, port: int = PORT) -> Callable[[], None]:
    """A probe that succeeds when beanstalkd answers ``list-tube-used``."""
    tcp = tcp_probe(host, port)

    def probe() -> None:
        tcp()
        import greenstalk

        with greenstalk.Client((host, port)) as client:
            client.using()

    return probe


@pytest.fixture()
def beanstalkd() -> str:
    """The URL of the shared beanstalkd (skip, or fail under CI, when it is not there)."""
    require_service("beanstalkd", beanstalkd_probe())
    return URL


@pytest.fixture(scope="session")
def private_beanstalkd() -> Iterator[PrivateBeanstalkd]:
    """A beanstalkd of this test session (``-z`` 1 MiB), on a free port."""
    if shutil.which("beanstalkd") is None:
        missing_service("beanstalkd is not installed (apt-get install beanstalkd)")
    server = PrivateBeanstalkd().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def raw(beanstalkd: str) -> Iterator[object]:
    """A greenstalk client on the shared server (bytes bodies)."""
    import greenstalk

    client = greenstalk.Client((HOST, PORT), encoding=None)
    try:
        yield client
    finally:
        client.close()
