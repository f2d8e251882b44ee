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


def _protocol_members(protocol: type) -> set[str]:
    """The methods and attributes a protocol declares (not typing's own machinery)."""
    declared = set(getattr(protocol, "__annotations__", {}))
    declared |= {name for name, value in vars(protocol).items() if callable(value) and not name.startswith("__")}
    return declared


def test_every_installed_transport_meets_the_written_contract():
    """Each plugin's transport class (and a virtual one's channel) has what kombu.transport.contract names."""
    from kombu.plugins import registry
    from kombu.transport import _import_target, virtual
    from kombu.transport.contract import NativeTransport, VirtualStorage, VirtualWaiting

    checked = []
    for info in registry().unique_transports():
        cls = _import_target(info.target)
        missing = {m for m in _protocol_members(NativeTransport) if not hasattr(cls, m)}
        if issubclass(cls, virtual.Transport):
            missing |= {m for m in _protocol_members(VirtualStorage) if not hasattr(cls.Channel, m)}
            missing |= {m for m in _protocol_members(VirtualWaiting) if not hasattr(cls, m)}
        assert not missing, f"{info.name}: {sorted(missing)}"
        checked.append(info.name)
    assert "memory" in checked and len(checked) >= 2
