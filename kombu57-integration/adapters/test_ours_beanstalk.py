"""common.py's classes on this project's beanstalk:// transport (Kombu 5.7 has none).

Kombu 5.7 removed this transport; these are its generic integration classes with
a beanstalk:// connection fixture.
"""

from __future__ import annotations

import os

import kombu
import pytest

from .common import BaseEventLoop, BaseExchangeTypes, BaseFailover, BaseMessage, BasicFunctionality
from .ours_virtual import VirtualPriority

HOST = os.environ.get("BEANSTALK_HOST", "127.0.0.1")
PORT = os.environ.get("BEANSTALK_PORT", "11300")


@pytest.fixture()
def connection():
    return kombu.Connection(f"beanstalk://{HOST}:{PORT}")


@pytest.fixture()
def invalid_connection():
    return kombu.Connection("beanstalk://127.0.0.1:1/", connect_timeout=2)


@pytest.fixture()
def failover_connection():
    return kombu.Connection(f"beanstalk://127.0.0.1:1/;beanstalk://{HOST}:{PORT}", connect_timeout=2)


class test_BeanstalkBasicFunctionality(BasicFunctionality):
    pass


class test_BeanstalkBaseExchangeTypes(BaseExchangeTypes):
    pass


class test_BeanstalkPriority(VirtualPriority):
    pass


class test_BeanstalkFailover(BaseFailover):
    pass


class test_BeanstalkMessage(BaseMessage):
    pass


class test_BeanstalkEventLoop(BaseEventLoop):
    pass
