"""Fixtures: the MongoDB-compatible server of the tests, pymongo on it, Kombu 5.7.0.

The tests use the server at ``KOMBU_MONGODB_URL`` (default
``mongodb://127.0.0.1:27017/kombu_tests``; nx-27017 started by
``scripts/services.sh mongodb``). A missing server skips the tests, or fails
them when ``CI`` is set (:func:`kombu.testing.services.require_service`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.testing.services import missing_service, require_service

MONGODB_URL = os.environ.get("KOMBU_MONGODB_URL", "mongodb://127.0.0.1:27017/kombu_tests")
DATABASE = MONGODB_URL.rsplit("/", 1)[-1].split("?", 1)[0] or "kombu_default"
ROOT = Path(__file__).resolve().parents[2]
KOMBU57_PYTHON = ROOT / ".venv-kombu57" / "bin" / "python"


def _probe() -> None:
    import pymongo

    client = pymongo.MongoClient(MONGODB_URL, serverSelectionTimeoutMS=2000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def require_mongodb() -> None:
    require_service("mongodb", _probe)


@pytest.fixture
def mongodb_url() -> str:
    require_mongodb()
    return MONGODB_URL


@pytest.fixture
def mdb(mongodb_url: str) -> Iterator[Any]:
    """A plain pymongo database handle on the test database."""
    import pymongo

    client = pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000)
    yield client[DATABASE]
    client.close()


@pytest.fixture
def uname() -> str:
    """A fresh, unique name prefix for the queues of one test."""
    return f"t.{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kombu57() -> Path:
    """The Kombu 5.7.0 reference interpreter (scripts/reference-venv.sh)."""
    if not KOMBU57_PYTHON.exists():
        missing_service(f"{KOMBU57_PYTHON} is missing (make reference)")
    return KOMBU57_PYTHON
