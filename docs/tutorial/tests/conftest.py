"""Make the tutorial's package importable and register its plugin (a published one would be pip-installed)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kombu import plugins  # noqa: E402 - after the path is set
from kombu_sqlite import plugin  # noqa: E402

# Runtime registration: the plugin module is registered with the core before
# pytest collects the test classes (the kit reads the capabilities then).
# An installed distribution would announce it in the `kombu` entry-point group.
plugins.register(plugin, name="kombu-sqlite-tutorial")
