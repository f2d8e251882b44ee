"""Transports: finding the class for a URL scheme, and Kombu 5's module paths.

``import kombu.transport.redis`` (or any name a plugin lists in
``TransportInfo.kombu_modules``) imports the installed transport's module,
so code that imports transports by Kombu 5's paths keeps working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

__all__ = ("resolve_transport", "get_transport_cls", "supports_librabbitmq", "TRANSPORT_ALIASES")

#: Kombu 5 exposes this dict; here aliases come from plugins, so it starts empty.
TRANSPORT_ALIASES: dict[str, str] = {}


def supports_librabbitmq() -> bool:
    """librabbitmq is not supported; kept for Kombu 5 API compatibility."""
    return False


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def resolve_transport(transport: Any = None) -> Any:
    """Return the transport class for a scheme name, ``"module:Class"`` path or class."""
    if transport is None:
        transport = "memory"
    if isinstance(transport, str):
        if transport in TRANSPORT_ALIASES:
            transport = TRANSPORT_ALIASES[transport]
        if ":" in transport:
            return _import_target(transport)
        if "." in transport:
            module_name, _, attr = transport.rpartition(".")
            return _import_target(f"{module_name}:{attr}")
        from kombu.plugins import transport_info

        return _import_target(transport_info(transport).target)
    return transport


def get_transport_cls(transport: Any = None) -> Any:
    """Kombu 5's name for :func:`resolve_transport`."""
    return resolve_transport(transport)


class _KombuModuleAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``kombu.transport.<name>`` import the plugin module that claims ``<name>``."""

    prefix = __name__ + "."

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.prefix) or "." in fullname[len(self.prefix) :]:
            return None
        name = fullname[len(self.prefix) :]
        from kombu.plugins import registry

        for info in registry().unique_transports():
            if name in info.kombu_modules:
                return importlib.machinery.ModuleSpec(fullname, self, origin=info.module)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(str(spec.origin))
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The module already ran under its own name; the import system has
        # just overwritten its __spec__ with the alias's, so put it back.
        for alias, original in list(self._specs.items()):
            if original is not None and original.name == module.__name__:
                module.__spec__ = original
                del self._specs[alias]

    _specs: dict[str, Any] = {}


if not any(isinstance(f, _KombuModuleAliases) for f in sys.meta_path):
    sys.meta_path.append(_KombuModuleAliases())
