"""common.py's classes on this project's pika:// transport (Kombu 5.7 has no pika transport)."""

from __future__ import annotations

import os

import kombu
import pytest

from .common import (
    BaseEventLoop,
    BaseExchangeTypes,
    BaseFailover,
    BaseMessage,
    BasePriority,
    BaseTimeToLive,
    BasicFunctionality,
)

HOST = os.environ.get("RABBITMQ_HOST", "127.0.0.1")
PORT = os.environ.get("RABBITMQ_5672_TCP", "5672")


@pytest.fixture()
def connection():
    return kombu.Connection(f"pika://guest:guest@{HOST}:{PORT}//")


@pytest.fixture()
def invalid_connection():
    return kombu.Connection("pika://guest:guest@127.0.0.1:12345//", connect_timeout=2)


@pytest.fixture()
def failover_connection():
    return kombu.Connection(f"pika://guest:guest@127.0.0.1:12345//;pika://guest:guest@{HOST}:{PORT}//")


class test_PikaBasicFunctionality(BasicFunctionality):
    pass


class test_PikaBaseExchangeTypes(BaseExchangeTypes):
    pass


class test_PikaTimeToLive(BaseTimeToLive):
    pass


class test_PikaPriority(BasePriority):
    pass


class test_PikaFailover(BaseFailover):
    pass


class test_PikaMessage(BaseMessage):
    pass


class test_PikaEventLoop(BaseEventLoop):
    pass
