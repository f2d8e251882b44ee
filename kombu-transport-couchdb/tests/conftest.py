"""Shared settings of the CouchDB transport's tests: the server they need."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from kombu.testing.services import require_service

URL = os.environ.get("KOMBU_COUCHDB_URL", "couchdb://127.0.0.1:5984/kombu_tests")


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
