"""The transport contract: one capability declaration, derived ``implements``, fail closed."""

from __future__ import annotations

import pytest
from kombu import Connection, Queue
from kombu.exceptions import CapabilityNotSupported
from kombu.hookspecs import Capabilities
from kombu.transport import memory


class UndeclaredTransport(memory.Transport):
    """A transport class handed to Connection directly, with no plugin and no capabilities."""

    capabilities = None


class DeclaredTransport(memory.Transport):
    capabilities = Capabilities(
        priorities=True, async_events=False, heartbeats=True, exchange_types=frozenset({"direct"})
    )


def test_implements_is_derived_from_the_plugin_capabilities():
    conn = Connection("memory://")
    caps = conn.transport.capabilities
    assert caps is conn.capabilities
    assert conn.is_evented is caps.async_events
    assert conn.supports_heartbeats is caps.heartbeats
    assert set(conn.transport.implements.exchange_type) == set(caps.exchange_types)


def test_class_declared_capabilities_are_kept_and_drive_implements():
    conn = Connection(transport=DeclaredTransport)
    assert conn.capabilities is DeclaredTransport.capabilities
    assert (conn.is_evented, conn.supports_heartbeats) == (False, True)
    assert conn.supports_exchange_type("direct") and not conn.supports_exchange_type("topic")


def test_a_transport_without_capabilities_fails_closed():
    with Connection(transport=UndeclaredTransport) as conn:
        assert conn.capabilities == Capabilities()
        assert conn.is_evented is False
        queue = Queue("contract-undeclared", max_priority=10)
        with pytest.raises(CapabilityNotSupported):
            queue(conn.default_channel).declare()
