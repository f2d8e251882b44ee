"""The documentation hook (docs/_hooks/kombu_docs.py) and the site build."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kombu_docs_hook", ROOT / "docs" / "_hooks" / "kombu_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hook = _load_hook()

README = """# title

intro

## Speed
fast text
```sh
# a comment, not a heading
```
### detail
more
## Other
other text
"""


def test_sections_end_at_the_next_heading_of_the_same_level() -> None:
    import re

    kept = hook._sections(README.splitlines(), re.compile("speed", re.I))
    assert kept[0] == "## Speed"
    assert "### detail" in kept and "more" in kept
    assert "# a comment, not a heading" in kept
    assert "## Other" not in kept and "other text" not in kept


def test_headings_shift_but_fenced_lines_do_not() -> None:
    out = hook._rewrite(README.splitlines(), 1, "bench/README.md", "benchmarks.md")
    assert "## title" in out and "### Speed" in out and "#### detail" in out
    assert "# a comment, not a heading" in out


def test_relative_links_point_to_the_page_showing_their_target() -> None:
    line = "for [kombu-core](../kombu-core) and [demo](../kombu-core/examples/demo.py), [web](https://x.org)"
    (out,) = hook._rewrite([line], 0, "kombu-transport-redis/README.md", "transports/redis.md")
    assert "[kombu-core](memory.md)" in out
    assert "demo (`kombu-core/examples/demo.py`)" in out
    assert "[web](https://x.org)" in out


def test_a_missing_file_or_section_fails_the_build() -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="does not exist"):
        hook.include("no/such/file.md", "page.md")
    with pytest.raises(PluginError, match="no section"):
        hook.include('bench/README.md sections="^no such heading$"', "page.md")
    assert hook.include('bench/README.md sections="^no such heading$" missing=none', "page.md") == "none"
    assert hook.include("no/such/file.md missing=none", "page.md") == "none"


def test_capabilities_come_from_the_installed_plugins() -> None:
    table = hook.capabilities("memory", "page.md")
    row = next(line for line in table.splitlines() if line.startswith("| `memory`"))
    assert "`memory://`" in row and "yes" in row
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="no-such-transport"):
        hook.capabilities("no-such-transport", "page.md")


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tutorial = (tmp_path / "site" / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "class Channel(virtual.Channel)" in tutorial  # the tested code, included


def test_distributions_table_lists_the_core_first() -> None:
    lines = hook.distributions("all", "page.md").splitlines()
    assert lines[2].startswith("| `kombu-core` | `memory://`")
