"""MkDocs hook: pages that show the repository's own files, so they cannot drift.

A page writes a directive as an HTML comment on a line of its own; the hook
replaces it before Markdown runs. Every failure (a missing file, section,
module or attribute) raises ``PluginError``, which fails the build.

``<!-- include: PATH [options] -->``
    The file at ``PATH`` (relative to the repository root). Options:
    ``lang=python`` wraps it in a fenced code block; ``drop-title`` leaves out
    its first ``#`` heading; ``shift=N`` demotes its headings by N levels;
    ``sections=REGEX`` keeps only the sections whose heading matches
    (case-insensitive), each up to the next heading of the same or a higher
    level; ``missing=TEXT`` is written instead when the file is absent or no
    section matches (without it, either fails the build).
    Relative links in an included Markdown file point to the docs page that
    shows their target, or become plain text naming the repository path.
``<!-- docstring: module[:attribute] -->``
    The docstring of a module, class or function, verbatim in a text block.
``<!-- members: module:Class NAME [NAME...] -->``
    For each named method or property of the class: a heading with its
    signature, then its docstring (verbatim when longer than one paragraph).
``<!-- capabilities: all | NAME[,NAME...] -->``
    The installed transports' capability flags (``kombu.plugins.registry()``),
    the same facts ``python -m kombu`` prints.
``<!-- distributions: all -->``
    One row per installed distribution: its URL schemes and client libraries.
``<!-- table: PATH:NAME -->``
    The dict ``NAME`` of the Python file ``PATH`` as a two-column table.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import posixpath
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVE = re.compile(r"^<!--\s*(include|docstring|members|capabilities|distributions|table):\s*(.*?)\s*-->\s*$", re.M)
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
ROLE = re.compile(r":[a-z]+:`~?\.?([^`]+)`")  # Sphinx roles in docstrings, shown as code

#: Repository folders and the docs page that shows each one's README.
PAGES = {
    "README.md": "index.md",
    "kombu-core": "transports/memory.md",
    "kombu-transport-amqp": "transports/amqp.md",
    "kombu-transport-redis": "transports/redis.md",
    "kombu-transport-sqs": "transports/sqs.md",
    "kombu-transport-mongodb": "transports/mongodb.md",
    "kombu-transport-couchdb": "transports/couchdb.md",
    "kombu-transport-beanstalk": "transports/beanstalk.md",
    "kombu-compat": "migrating.md",
    "bench": "benchmarks.md",
    "kombu-transport-amqp/BENCH.md": "benchmarks.md",
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand every directive of ``page``."""
    where = page.file.src_uri

    def expand(match: re.Match[str]) -> str:
        kind, argument = match.group(1), match.group(2)
        try:
            return str(HANDLERS[kind](argument, where))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"{where}: <!-- {kind}: {argument} -->: {type(exc).__name__}: {exc}") from exc

    return DIRECTIVE.sub(expand, markdown)


# -- include ----------------------------------------------------------------------------


def include(argument: str, page: str) -> str:
    path, *options = shlex.split(argument)
    opts = dict(option.partition("=")[::2] for option in options)
    source = ROOT / path
    if not source.is_file():
        if "missing" in opts:
            return opts["missing"]
        raise PluginError(f"{page}: included file {path} does not exist")
    text = source.read_text(encoding="utf-8")
    if "lang" in opts:
        return f"```{opts['lang']}\n{text.rstrip()}\n```\n"
    lines = text.splitlines()
    if "drop-title" in opts:
        lines = _drop_title(lines)
    if "sections" in opts:
        lines = _sections(lines, re.compile(opts["sections"], re.I))
        if not lines:
            if "missing" in opts:
                return opts["missing"]
            raise PluginError(f"{page}: no section of {path} matches {opts['sections']!r}")
    shift = int(opts.get("shift", 0))
    return "\n".join(_rewrite(lines, shift, path, page)) + "\n"


def _drop_title(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return lines[:i] + lines[i + 1 :]
    return lines


def _outside_fences(lines: list[str]) -> list[bool]:
    """For each line, whether it is Markdown text rather than inside a fenced block."""
    result, fenced = [], False
    for line in lines:
        if FENCE.match(line):
            result.append(False)
            fenced = not fenced
        else:
            result.append(not fenced)
    return result


def _sections(lines: list[str], pattern: re.Pattern[str]) -> list[str]:
    kept: list[str] = []
    level = 0  # >0 while inside a kept section of that heading level
    for line, text in zip(lines, _outside_fences(lines), strict=True):
        heading = HEADING.match(line) if text else None
        if heading is not None:
            depth = len(heading.group(1))
            if level and depth <= level:
                level = 0
            if not level and pattern.search(heading.group(2)):
                level = depth
        if level:
            kept.append(line)
    return kept


def _rewrite(lines: list[str], shift: int, path: str, page: str) -> list[str]:
    out = []
    for line, text in zip(lines, _outside_fences(lines), strict=True):
        if text:
            heading = HEADING.match(line)
            if heading is not None and shift:
                line = "#" * min(6, len(heading.group(1)) + shift) + " " + heading.group(2)
            line = LINK.sub(lambda m: _link(m, path, page), line)
        out.append(line)
    return out


def _link(match: re.Match[str], path: str, page: str) -> str:
    text, target = match.group(1), match.group(2)
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
        return match.group(0)  # absolute URL or anchor
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target.split("#")[0]))
    top = resolved.split("/")[0]
    shown = PAGES.get(resolved) or (PAGES.get(top) if resolved == top else None)
    if shown is not None:
        return f"[{text}]({posixpath.relpath(shown, posixpath.dirname(page) or '.')})"
    return f"{text} (`{resolved}`)"


# -- docstring --------------------------------------------------------------------------


def docstring(argument: str, page: str) -> str:
    module_name, _, attribute = argument.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    doc = inspect.getdoc(obj)
    if not doc:
        raise PluginError(f"{page}: {argument} has no docstring")
    doc = ROLE.sub(r"``\1``", doc)
    name = argument.replace(":", ".")
    return f"*The docstring of `{name}`:*\n\n```text\n{doc}\n```\n"


def members(argument: str, page: str) -> str:
    target, *names = argument.split()
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    out = []
    for name in names:
        member = inspect.getattr_static(cls, name)
        function: Any = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        try:
            signature = str(inspect.signature(function)).replace("(self, ", "(").replace("(self)", "()")
            signature = re.sub(r"(: |-> )'([^']*)'", r"\1\2", signature)  # postponed annotations
        except (TypeError, ValueError):
            signature = ""
        if isinstance(member, property):
            signature = " (property)"
        doc = inspect.getdoc(function)
        if not doc:
            raise PluginError(f"{page}: {target}.{name} has no docstring")
        doc = ROLE.sub(r"``\1``", doc)
        body = doc if "\n\n" not in doc and "\n    " not in doc else f"```text\n{doc}\n```"
        out.append(f"#### `{name}{signature}`\n\n{body}\n")
    return "\n".join(out)


# -- capabilities -----------------------------------------------------------------------


def capabilities(argument: str, page: str) -> str:
    from kombu import plugins

    transports = plugins.registry().unique_transports()
    if argument != "all":
        names = [name.strip() for name in argument.split(",")]
        missing = sorted(set(names) - {t.name for t in transports})
        if missing:
            raise PluginError(f"{page}: no installed transport is named {', '.join(missing)}")
        transports = [t for t in transports if t.name in names]
    flags = [name for name in transports[0].capabilities.as_dict() if name != "exchange_types"]
    header = "| transport | schemes | exchange types | " + " | ".join(f"`{f}`" for f in flags) + " |"
    rows = [header, "|" + "---|" * (3 + len(flags))]
    for info in sorted(transports, key=lambda t: t.name):
        caps = info.capabilities.as_dict()
        cells = [
            f"`{info.name}`",
            ", ".join(f"`{s}://`" for s in info.schemes),
            ", ".join(caps["exchange_types"]),
            *("yes" if caps[f] else "—" for f in flags),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def distributions(argument: str, page: str) -> str:
    from kombu import plugins

    rows: dict[str, tuple[list[str], list[str]]] = {}
    for info in plugins.registry().unique_transports():
        schemes, clients = rows.setdefault(info.distribution, ([], []))
        schemes.extend(f"`{s}://`" for s in info.schemes)
        if info.client_package and info.client_package not in clients:
            clients.append(info.client_package)
    lines = ["| distribution | URL schemes | client library (PyPI) |", "|---|---|---|"]
    for dist in sorted(rows, key=lambda d: (d != "kombu-core", d)):
        schemes, clients = rows[dist]
        lines.append(f"| `{dist}` | {', '.join(schemes)} | {', '.join(clients) or '—'} |")
    return "\n".join(lines) + "\n"


# -- table ------------------------------------------------------------------------------


def table(argument: str, page: str) -> str:
    path, _, name = argument.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"_kombu_docs_{Path(path).stem}", ROOT / path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{page}: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    entries: dict[str, str] = getattr(module, name)
    if not entries:
        return f"*None: `{name}` in `{path}` is empty.*\n"
    rows = ["| entry | reason |", "|---|---|"]
    for key, reason in entries.items():
        cell = str(reason).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {cell} |")
    return "\n".join(rows) + "\n"


HANDLERS = {
    "include": include,
    "docstring": docstring,
    "members": members,
    "capabilities": capabilities,
    "distributions": distributions,
    "table": table,
}
