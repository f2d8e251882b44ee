"""Shared fixtures: the real RabbitMQ the tests run against.

``KOMBU_AMQP_URL`` overrides the broker (default ``amqp://guest:guest@127.0.0.1:5672//``).
When the broker does not answer, broker tests are skipped, or fail when the
``CI`` environment variable is set. Unit tests marked ``nobroker`` never need it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from kombu.testing.services import missing_service

AMQP_URL = os.environ.get("KOMBU_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PIKA_URL = "pika://" + AMQP_URL.split("://", 1)[1]
URLS = {"amqp": AMQP_URL, "pika": PIKA_URL}

_state: dict[str, str | None] = {}


def broker_problem() -> str | None:
    """``None`` when RabbitMQ answers on the test URL, else why not (cached)."""
    if "problem" not in _state:
        parts = urlsplit(AMQP_URL)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 3):
                pass
            _state["problem"] = None
        except OSError as exc:
            _state["problem"] = f"RabbitMQ at {parts.hostname}:{parts.port}: {exc}"
    return _state["problem"]


def require_broker() -> None:
    """Skip (fail under ``CI``) when RabbitMQ is not reachable."""
    problem = broker_problem()
    if problem:
        missing_service(problem)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nobroker: a unit test that needs no broker")


@pytest.fixture(autouse=True)
def _rabbitmq(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("nobroker") is None:
        require_broker()


@pytest.fixture(params=sorted(URLS))
def url(request: pytest.FixtureRequest) -> str:
    """The broker URL, once per transport (``amqp`` and ``pika``)."""
    return URLS[request.param]


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Fresh-name factory; queues and exchanges named here are deleted after the test."""
    created: list[str] = []
    yield created
    if not created or broker_problem():
        return
    import amqp

    parts = urlsplit(AMQP_URL)
    conn = amqp.Connection(
        f"{parts.hostname}:{parts.port or 5672}", userid=parts.username or "guest", password=parts.password or "guest"
    )
    conn.connect()
    try:
        for name in created:
            ch = conn.channel()
            try:
                ch.queue_delete(name)
            except Exception:  # noqa: BLE001 - cleanup
                ch = conn.channel()
            try:
                ch.exchange_delete(name)
            except Exception:  # noqa: BLE001 - cleanup
                pass
    finally:
        conn.close()


def fresh(created: list[str], label: str = "q") -> str:
    """A unique entity name, registered for cleanup."""
    name = f"amqp-tests.{uuid.uuid4().hex[:10]}.{label}"
    created.append(name)
    return name


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run ``rabbitmqctl`` (skip, or fail under CI, when it is not available)."""
    try:
        out = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=True)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        missing_service(f"rabbitmqctl {' '.join(args)} is unavailable: {exc}")
        raise  # not reached: missing_service fails or skips
    return out.stdout
