"""Whether a real server a test needs is there: fail under CI, skip elsewhere.

One rule for every test suite of the project and for third-party transports:
a test that needs a broker calls :func:`require_service` with a probe. When
the probe fails and the environment variable ``CI`` is set, the test fails
(CI must never pass by skipping); otherwise it is skipped with the reason.
Probe results are cached per name, so a missing server costs one probe.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import NoReturn

import pytest

__all__ = ("require_service", "missing_service", "tcp_probe", "in_ci")

_problems: dict[str, str | None] = {}


def in_ci() -> bool:
    """Whether the ``CI`` environment variable is set (to anything but empty)."""
    return bool(os.environ.get("CI"))


def missing_service(what: str) -> NoReturn:
    """Fail (under CI) or skip the current test because ``what`` is unavailable."""
    if in_ci():
        pytest.fail(f"{what} (CI is set: a missing server is a failure, never a skip)", pytrace=False)
    pytest.skip(what)


def require_service(name: str, probe: Callable[[], object]) -> None:
    """Make sure server ``name`` answers ``probe()``; else :func:`missing_service`.

    ``probe`` raises (any exception) when the server is not usable. Its
    outcome is cached for the process under ``name``.
    """
    if name not in _problems:
        try:
            probe()
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
            _problems[name] = f"{name} is not reachable: {type(exc).__name__}: {exc}"
        else:
            _problems[name] = None
    problem = _problems[name]
    if problem is not None:
        missing_service(problem)


def tcp_probe(host: str, port: int, timeout: float = 2.0) -> Callable[[], None]:
    """A probe that succeeds when ``host:port`` accepts a TCP connection."""

    def probe() -> None:
        with socket.create_connection((host, port), timeout=timeout):
            pass

    return probe
