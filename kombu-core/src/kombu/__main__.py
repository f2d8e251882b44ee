"""``python -m kombu``: list the installed transports, serializers and compressors."""

from __future__ import annotations

import sys
from typing import TextIO


def describe(out: TextIO = sys.stdout) -> None:
    """Write what the installed plugins provide to ``out``."""
    from kombu.plugins import registry

    reg = registry()
    out.write("Transports:\n")
    for info in reg.unique_transports():
        caps = info.capabilities.as_dict()
        flags = [name for name, value in caps.items() if value is True]
        out.write(f"  {info.name:<10} schemes: {', '.join(s + '://' for s in info.schemes)}\n")
        out.write(f"  {'':<10} distribution: {info.distribution}")
        if info.client_package:
            out.write(f" (client: {info.client_package})")
        out.write("\n")
        out.write(f"  {'':<10} exchange types: {', '.join(caps['exchange_types'])}\n")
        out.write(f"  {'':<10} capabilities: {', '.join(flags) or 'none'}\n")
    out.write("Serializers:\n")
    for ser in {id(s): s for s in reg.serializers.values()}.values():
        note = " (refused unless accepted)" if not ser.default_accept else ""
        out.write(f"  {ser.name:<10} {ser.content_type}{note}\n")
    out.write("Compressors:\n")
    for comp in {id(c): c for c in reg.compressors.values()}.values():
        out.write(f"  {comp.name:<10} {comp.content_type}\n")
    if reg.failures:
        out.write("Plugins left out:\n")
        for failure in reg.failures:
            out.write(f"  {failure}\n")


if __name__ == "__main__":
    describe()
