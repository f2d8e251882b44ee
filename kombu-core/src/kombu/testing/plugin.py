"""pytest plugin of the conformance kit (entry point ``pytest11: kombu-testing``).

pytest loads this module in every run of every project that has kombu-core
installed, so it imports nothing but pytest at start: no broker client and
not ``kombu.connection`` (the fixtures import what they need when used).

Fixtures:

``fault_proxy``
    A started :class:`kombu.testing.proxy.FaultProxy` in front of the test
    class's broker (``request.instance.kit_broker_address()``), stopped after
    the test. ``fault_proxy.url(url)`` rewrites a URL to go through it. The
    test is skipped when the class is not a network transport.
``kombu_url``
    The broker URL under test: the test class's ``url`` attribute, else the
    ``kombu_url`` marker's argument, else ``memory://``.
``kombu_connection``
    A connected ``kombu.Connection`` to ``kombu_url`` (with the class's
    ``transport_options``), released after the test.

Markers: ``kombu_url(url)`` sets ``kombu_url`` for a plain test function;
``kombu_network`` marks tests that need the fault proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ("fault_proxy", "kombu_url", "kombu_connection", "pytest_configure")

# The kit's test areas live outside test files; have pytest rewrite their
# asserts too, so a failing conformance test shows the values compared.
pytest.register_assert_rewrite(__name__.rpartition(".")[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect conformance tests whose ``@requires`` conditions the transport does not meet."""
    if not any(getattr(getattr(item, "function", None), "_kit_requires", None) for item in items):
        return
    from .base import ConformanceBase

    instances: dict[type, Any] = {}
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        cls = getattr(item, "cls", None)
        conditions = getattr(getattr(item, "function", None), "_kit_requires", ())
        if not conditions or cls is None or not issubclass(cls, ConformanceBase):
            keep.append(item)
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        conditions = tuple(c.format(**params) for c in conditions)
        instance = instances.get(cls) or instances.setdefault(cls, cls())
        (dropped if instance.kit_unmet(conditions) else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    """Register the kit's markers."""
    config.addinivalue_line("markers", "kombu_url(url): the broker URL for kombu_url/kombu_connection")
    config.addinivalue_line("markers", "kombu_network: needs a network broker (fault proxy)")


@pytest.fixture
def fault_proxy(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A running fault proxy in front of the test class's broker."""
    instance = request.instance
    finder = getattr(instance, "kit_broker_address", None)
    address = finder() if finder is not None else None
    if address is None:
        pytest.skip("the fault proxy needs a network transport (the URL names no host:port)")
    from .proxy import FaultProxy

    proxy = FaultProxy(*address)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def kombu_url(request: pytest.FixtureRequest) -> str:
    """The broker URL under test."""
    url = getattr(request.instance, "url", None) or getattr(request.cls, "url", None)
    if url:
        return str(url)
    marker = request.node.get_closest_marker("kombu_url")
    if marker is not None and marker.args:
        return str(marker.args[0])
    return "memory://"


@pytest.fixture
def kombu_connection(request: pytest.FixtureRequest, kombu_url: str) -> Iterator[Any]:
    """A connected ``kombu.Connection`` to ``kombu_url``, released afterwards."""
    from kombu import Connection

    options = dict(getattr(request.cls, "transport_options", None) or {})
    conn = Connection(kombu_url, transport_options=options)
    conn.connect()
    try:
        yield conn
    finally:
        conn.release()
