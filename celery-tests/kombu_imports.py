"""List every ``kombu`` name Celery's installed source imports, and which do not resolve.

Run with the Celery venv's interpreter; prints one JSON object:
``{"checked": N, "unresolved": ["module:name: error", ...], "files": F}``.
Imports anywhere in a file count (inside functions and ``try`` blocks too).
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path


def kombu_imports(root: Path) -> set[tuple[str, str | None]]:
    """``(module, name)`` for ``from kombu.x import name``; ``(module, None)`` for ``import kombu.x``."""
    found: set[tuple[str, str | None]] = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "kombu" or node.module.startswith("kombu."):
                    found.update((node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(
                    (alias.name, None)
                    for alias in node.names
                    if alias.name == "kombu" or alias.name.startswith("kombu.")
                )
    return found


def resolve(module: str, name: str | None) -> str | None:
    """``None`` when the import works, else why not."""
    try:
        imported = importlib.import_module(module)
        if name is not None and name != "*" and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none hidden
        return f"{module}:{name}: {type(exc).__name__}: {exc}"
    return None


def main() -> None:
    import celery

    root = Path(celery.__file__).parent
    wanted = kombu_imports(root)
    unresolved = sorted(filter(None, (resolve(module, name) for module, name in sorted(wanted, key=str))))
    print(json.dumps({"checked": len(wanted), "files": len(list(root.rglob("*.py"))), "unresolved": unresolved}))


if __name__ == "__main__":
    sys.exit(main())
