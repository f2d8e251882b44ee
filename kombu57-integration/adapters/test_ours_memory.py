"""common.py's classes on this project's memory:// transport (Kombu 5.7 has no such module).

memory:// cannot fail to connect, so the ``invalid_connection`` of these tests
is a Connection to a port where nothing listens, on the default transport.
"""

from __future__ import annotations

import kombu
import pytest

from .common import BaseEventLoop, BaseExchangeTypes, BaseMessage, BaseTimeToLive, BasicFunctionality
from .ours_virtual import VirtualPriority


@pytest.fixture()
def connection():
    return kombu.Connection("memory://")


@pytest.fixture()
def invalid_connection():
    return kombu.Connection("pyamqp://127.0.0.1:1//", connect_timeout=1)


class test_MemoryBasicFunctionality(BasicFunctionality):
    pass


class test_MemoryBaseExchangeTypes(BaseExchangeTypes):
    pass


class test_MemoryTimeToLive(BaseTimeToLive):
    pass


class test_MemoryPriority(VirtualPriority):
    pass


class test_MemoryMessage(BaseMessage):
    pass


class test_MemoryEventLoop(BaseEventLoop):
    pass
