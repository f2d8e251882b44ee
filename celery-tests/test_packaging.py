"""The README's way to install Celery: kombu-compat's metadata-only `kombu` keeps this project's package."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

SCRIPT = """
import json, os
from importlib.metadata import distribution, requires
import kombu
dist = distribution('kombu')
print(json.dumps({
    'version': dist.version,
    'modules': [str(f) for f in dist.files or () if str(f).endswith('.py')],
    'requires': requires('kombu'),
    'kombu_file': os.path.realpath(kombu.__file__),
    'celery_requires': [r for r in requires('celery') if r.startswith('kombu')],
}))
"""


def test_kombu_distribution_is_metadata_only_and_pip_check_is_clean(celery_python: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([str(celery_python), "-c", SCRIPT], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["version"] == "5.7.0+core"
    assert info["modules"] == []  # installs no module: `import kombu` stays kombu-core's
    assert info["kombu_file"].startswith(str(root / "kombu-core")), info["kombu_file"]
    names = {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in info["requires"] if "extra ==" not in req}
    assert {"kombu-core", "kombu-transport-amqp"} <= names
    assert info["celery_requires"], "Celery 5.7.0 requires the distribution kombu"
    check = subprocess.run([str(celery_python), "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_local_version_satisfies_celerys_requirement() -> None:
    from packaging.specifiers import SpecifierSet

    assert "5.7.0+core" in SpecifierSet(">=5.7.0,<5.8")
    assert "5.7.0+core" in SpecifierSet(">=5.7.0")
