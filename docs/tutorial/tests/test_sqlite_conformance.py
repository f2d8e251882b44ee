"""``sqlite://`` passes the conformance kit: every area the core ships."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from kombu import plugins
from kombu.testing import TransportConformance
from kombu_sqlite import plugin

# Runtime registration: the plugin module is registered with the core before
# pytest collects the class below (the kit reads the capabilities then).
# An installed distribution would announce it in the `kombu` entry-point group.
plugins.register(plugin, name="kombu-sqlite-tutorial")

DATABASE = Path(tempfile.mkdtemp(prefix="kombu-sqlite-")) / "kit.db"
atexit.register(shutil.rmtree, DATABASE.parent, True)


class TestSqliteConformance(TransportConformance):
    url = f"sqlite:///{DATABASE}"
