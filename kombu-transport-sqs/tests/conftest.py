"""Shared fixtures: the moto server (SQS and SNS) the tests run against."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from kombu.testing.services import require_service

HOST = os.environ.get("KOMBU_SQS_HOST", "127.0.0.1")
PORT = int(os.environ.get("SQS_PORT", "5000"))
ENDPOINT = f"http://{HOST}:{PORT}"
#: Any credentials work on moto.
URL = f"sqs://kombu:secret@{HOST}:{PORT}"


def boto_client(service: str = "sqs") -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="kombu",
        aws_secret_access_key="secret",
    )


def _probe() -> None:
    boto_client().list_queues()


@pytest.fixture(autouse=True)
def _needs_moto() -> None:
    require_service(f"sqs (moto) at {ENDPOINT}", _probe)


def drain_until(conn: Any, done: Callable[[], bool], timeout: float) -> bool:
    """``conn.drain_events`` until ``done()`` or ``timeout`` seconds; return ``done()``."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=1)
        except TimeoutError:
            pass
    return done()
