"""The plugin manager: finds transports, serializers and compressors.

Plugins are loaded once, on first need, from the ``kombu`` entry-point group
plus the core's own :mod:`kombu.builtins`; every lookup afterwards is a dict
access. See :mod:`kombu.hookspecs` for what a plugin provides.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kombu.exceptions import TransportNotInstalled

if TYPE_CHECKING:
    import pluggy

    from kombu.hookspecs import CompressorInfo, SerializerInfo, TransportInfo

__all__ = (
    "Registry",
    "registry",
    "plugin_manager",
    "transport_info",
    "reset",
    "KNOWN_DISTRIBUTIONS",
)

#: Schemes of the project's own transport distributions, so a missing one can
#: be named in the error even though nothing installed describes it.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "amqp": "kombu-transport-amqp",
    "amqps": "kombu-transport-amqp",
    "pyamqp": "kombu-transport-amqp",
    "pika": "kombu-transport-amqp",
    "redis": "kombu-transport-redis",
    "rediss": "kombu-transport-redis",
    "sentinel": "kombu-transport-redis",
    "redis+socket": "kombu-transport-redis",
    "sqs": "kombu-transport-sqs",
    "mongodb": "kombu-transport-mongodb",
    "couchdb": "kombu-transport-couchdb",
    "beanstalk": "kombu-transport-beanstalk",
}


class PluginConflict(RuntimeError):
    """Two installed plugins claim the same scheme or name."""


@dataclass
class Registry:
    """Everything the installed plugins offer, indexed for lookup."""

    transports: dict[str, TransportInfo] = field(default_factory=dict)
    serializers: dict[str, SerializerInfo] = field(default_factory=dict)
    compressors: dict[str, CompressorInfo] = field(default_factory=dict)

    def add_transport(self, info: TransportInfo) -> None:
        for scheme in info.schemes:
            key = scheme.lower()
            known = self.transports.get(key)
            if known is not None and known.target != info.target:
                raise PluginConflict(
                    f"URL scheme {scheme!r} is claimed by both {known.distribution} "
                    f"({known.target}) and {info.distribution} ({info.target})"
                )
            self.transports[key] = info

    def unique_transports(self) -> list[TransportInfo]:
        """Each transport once, in registration order."""
        return list({id(t): t for t in self.transports.values()}.values())


_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
_registry: Registry | None = None


def plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, loading plugins on first call."""
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                import pluggy

                from kombu import builtins, hookspecs

                pm = pluggy.PluginManager(hookspecs.PROJECT)
                pm.add_hookspecs(hookspecs)
                pm.register(builtins, name="kombu.builtins")
                pm.load_setuptools_entrypoints(hookspecs.PROJECT)
                _manager = pm
    return _manager


def _build_registry(pm: pluggy.PluginManager) -> Registry:
    reg = Registry()
    # pluggy calls the most recently registered plugin first; reverse so the
    # built-ins come first and entry points may add to them.
    for infos in reversed(pm.hook.kombu_transports()):
        for info in infos:
            reg.add_transport(info)
    for infos in reversed(pm.hook.kombu_serializers()):
        for ser in infos:
            for name in (ser.name, *ser.aliases):
                reg.serializers[name] = ser
    for infos in reversed(pm.hook.kombu_compressors()):
        for comp in infos:
            for name in (comp.name, *comp.aliases):
                reg.compressors[name] = comp
    return reg


def registry() -> Registry:
    """Return the merged registry of every installed plugin (built once)."""
    global _registry
    if _registry is None:
        reg = _build_registry(plugin_manager())
        with _lock:
            if _registry is None:
                _registry = reg
    return _registry


def transport_info(scheme: str) -> TransportInfo:
    """Return the transport that handles URL ``scheme``.

    Raises :class:`~kombu.exceptions.TransportNotInstalled` naming the
    distribution to install when no installed plugin claims the scheme.
    """
    info = registry().transports.get(scheme.lower())
    if info is not None:
        return info
    dist = KNOWN_DISTRIBUTIONS.get(scheme.lower())
    if dist and _is_installed(dist):
        hint = f"{dist} is installed but does not provide this transport yet"
    elif dist:
        hint = f"install it with: pip install {dist}"
    else:
        hint = ("no known distribution provides it; a third-party transport must "
                "announce it in the 'kombu' entry-point group")
    installed = ", ".join(sorted(registry().transports)) or "none"
    raise TransportNotInstalled(
        f"No transport is installed for URL scheme {scheme!r}: {hint} "
        f"(installed schemes: {installed})"
    )


def _is_installed(distribution: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def register(plugin: Any, name: str | None = None) -> None:
    """Register ``plugin`` (an object with hook implementations) at run time.

    For applications and tests that provide a plugin without an entry point.
    """
    global _registry
    pm = plugin_manager()
    pm.register(plugin, name=name)
    with _lock:
        _registry = None


def reset() -> None:
    """Forget loaded plugins; the next lookup loads them again."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
