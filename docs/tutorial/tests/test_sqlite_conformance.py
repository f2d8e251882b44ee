"""``sqlite://`` passes the conformance kit: every area the core ships."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from kombu.testing import TransportConformance

DATABASE = Path(tempfile.mkdtemp(prefix="kombu-sqlite-")) / "kit.db"
atexit.register(shutil.rmtree, DATABASE.parent, True)


class TestSqliteConformance(TransportConformance):
    url = f"sqlite:///{DATABASE}"
