"""Shared settings of the CouchDB transport's tests: the server they need."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from kombu.testing.services import require_service

#: A database of this run's own (deleted at the end), so runs never see each
#: other's messages and the server does not grow from run to run.
URL = os.environ.get("KOMBU_COUCHDB_URL", f"couchdb://127.0.0.1:5984/kombu_tests_{uuid.uuid4().hex[:8]}")


def _http_base(url: str) -> str:
    from kombu import Connection

    conn = Connection(url)
    return f"http://{conn.hostname}:{conn.port or 5984}"


def probe(url: str = URL) -> None:
    """Raise unless a CouchDB-compatible server answers ``GET /`` at ``url``."""
    with urllib.request.urlopen(_http_base(url) + "/", timeout=3) as reply:
        if "version" not in json.loads(reply.read()):
            raise RuntimeError("not a CouchDB server")


@pytest.fixture(autouse=True)
def _needs_couchdb(request: pytest.FixtureRequest) -> None:
    if request.node.path.name == "test_plugin.py":
        return
    require_service("couchdb", probe)


@pytest.fixture(scope="session", autouse=True)
def _drop_test_database() -> Iterator[None]:
    yield
    if "KOMBU_COUCHDB_URL" in os.environ:
        return
    from kombu import Connection

    conn = Connection(URL)
    request = urllib.request.Request(f"{_http_base(URL)}/{conn.virtual_host.strip('/')}", method="DELETE")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass
