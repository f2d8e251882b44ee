"""The placeholder distribution kombu-transport-couchdb: it installs, imports nothing heavy,
and until a transport fills it, its URL scheme fails with a clear error."""
import subprocess
import sys

import pytest


def test_import_does_not_import_the_client_library():
    code = ('import sys, kombu_transport_couchdb; '
            'sys.exit(1 if "requests" in sys.modules else 0)')
    assert subprocess.run([sys.executable, '-c', code], check=False).returncode == 0


def test_ships_py_typed():
    from importlib.resources import files
    assert files('kombu_transport_couchdb').joinpath('py.typed').is_file()


def test_scheme_not_served_yet_names_the_distribution():
    from kombu import Connection
    from kombu.exceptions import TransportNotInstalled

    with pytest.raises(TransportNotInstalled, match='kombu-transport-couchdb is installed but does not provide'):
        Connection('couchdb://localhost/').get_transport_cls()
