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
    "PluginFailure",
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


@dataclass(frozen=True)
class PluginFailure:
    """A plugin left out of the registry, and why."""

    plugin: str
    distribution: str
    reason: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} (distribution {self.distribution}): {self.reason}"


@dataclass
class Registry:
    """Everything the installed plugins offer, indexed for lookup."""

    transports: dict[str, TransportInfo] = field(default_factory=dict)
    serializers: dict[str, SerializerInfo] = field(default_factory=dict)
    compressors: dict[str, CompressorInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

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
                _load_entry_points(pm, _load_failures)
                _manager = pm
    return _manager


#: Failures met while loading entry points (kept until :func:`reset`).
_load_failures: list[PluginFailure] = []
#: plugin name -> distribution it came from.
_distributions: dict[str, str] = {"kombu.builtins": "kombu-core"}


def _load_entry_points(pm: pluggy.PluginManager, failures: list[PluginFailure]) -> None:
    """Register every plugin of the ``kombu`` entry-point group that validates.

    Each plugin is checked on its own: it must import, and every ``kombu_*``
    hook implementation it has must match a hook specification (a misspelled
    hook such as ``kombu_transport`` is reported, not silently ignored).
    """
    from importlib import metadata

    from kombu import hookspecs

    known_hooks = {name for name in dir(hookspecs) if name.startswith("kombu_")}
    for ep in metadata.entry_points(group=hookspecs.PROJECT):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            failures.append(PluginFailure(ep.name, dist, f"cannot be imported: {type(exc).__name__}: {exc}"))
            continue
        unknown = sorted(
            name
            for name in dir(plugin)
            if name.startswith("kombu_")
            and name not in known_hooks
            and getattr(getattr(plugin, name), hookspecs.PROJECT + "_impl", None) is not None
        )
        if unknown:
            failures.append(
                PluginFailure(
                    ep.name,
                    dist,
                    f"unknown hook(s) {', '.join(unknown)} (known hooks: {', '.join(sorted(known_hooks))})",
                )
            )
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - pluggy's validation error, reported by name
            failures.append(PluginFailure(ep.name, dist, f"rejected by pluggy: {exc}"))
            continue
        _distributions[ep.name] = dist


def _hook_results(pm: pluggy.PluginManager, hook: str, kind: type, reg: Registry) -> list[Any]:
    """Call ``hook`` on each plugin in registration order; keep well-typed results.

    A plugin whose hook raises or returns anything but a sequence of ``kind``
    is left out of this hook, with a failure naming it and its distribution.
    """
    results: list[Any] = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        name = impl.plugin_name
        dist = _distributions.get(name, "registered at run time")
        try:
            answer = impl.function()
            items = list(answer or ())
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
            reg.failures.append(PluginFailure(name, dist, f"{hook}() raised {type(exc).__name__}: {exc}"))
            continue
        wrong = [item for item in items if not isinstance(item, kind)]
        if wrong or isinstance(answer, (str, bytes)):
            got = type(wrong[0]).__name__ if wrong else type(answer).__name__
            reg.failures.append(
                PluginFailure(name, dist, f"{hook}() must return a sequence of {kind.__name__}, got a {got}")
            )
            continue
        results.extend(items)
    return results


def _build_registry(pm: pluggy.PluginManager) -> Registry:
    from kombu.hookspecs import CompressorInfo, SerializerInfo, TransportInfo

    reg = Registry()
    reg.failures.extend(_load_failures)
    # Built-ins first; entry points may add to them.
    for info in _hook_results(pm, "kombu_transports", TransportInfo, reg):
        reg.add_transport(info)
    for ser in _hook_results(pm, "kombu_serializers", SerializerInfo, reg):
        for name in (ser.name, *ser.aliases):
            reg.serializers[name] = ser
    for comp in _hook_results(pm, "kombu_compressors", CompressorInfo, reg):
        for name in (comp.name, *comp.aliases):
            reg.compressors[name] = comp
    if reg.failures:
        import logging

        log = logging.getLogger(__name__)
        for failure in reg.failures:
            log.warning("kombu: %s; it is left out", failure)
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
        hint = (
            "no known distribution provides it; a third-party transport must "
            "announce it in the 'kombu' entry-point group"
        )
    installed = ", ".join(sorted(registry().transports)) or "none"
    raise TransportNotInstalled(
        f"No transport is installed for URL scheme {scheme!r}: {hint} (installed schemes: {installed})"
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
    registered = pm.register(plugin, name=name)
    if registered is not None:
        _distributions.setdefault(registered, "registered at run time")
    with _lock:
        _registry = None


def reset() -> None:
    """Forget loaded plugins; the next lookup loads them again."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
        _load_failures.clear()
