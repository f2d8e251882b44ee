"""common.py's classes on this project's couchdb:// transport (Kombu 5.7 has none).

Kombu 5.7 removed this transport; these are its generic integration classes with
a couchdb:// connection fixture.
"""

from __future__ import annotations

import os

import kombu
import pytest

from .common import BaseEventLoop, BaseExchangeTypes, BaseFailover, BaseMessage, BasicFunctionality
from .ours_virtual import VirtualPriority

HOST = os.environ.get("COUCHDB_HOST", "127.0.0.1")
PORT = os.environ.get("COUCHDB_PORT", "5984")


@pytest.fixture()
def connection():
    return kombu.Connection(f"couchdb://{HOST}:{PORT}/kombu57_integration")


@pytest.fixture()
def invalid_connection():
    return kombu.Connection("couchdb://127.0.0.1:1/", connect_timeout=2)


@pytest.fixture()
def failover_connection():
    return kombu.Connection(f"couchdb://127.0.0.1:1/;couchdb://{HOST}:{PORT}/kombu57_integration", connect_timeout=2)


class test_CouchDBBasicFunctionality(BasicFunctionality):
    pass


class test_CouchDBBaseExchangeTypes(BaseExchangeTypes):
    pass


class test_CouchDBPriority(VirtualPriority):
    pass


class test_CouchDBFailover(BaseFailover):
    pass


class test_CouchDBMessage(BaseMessage):
    pass


class test_CouchDBEventLoop(BaseEventLoop):
    pass
