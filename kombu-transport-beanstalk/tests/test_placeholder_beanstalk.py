"""The placeholder distribution kombu-transport-beanstalk: it installs, imports nothing heavy,
and ships its type marker."""
import subprocess
import sys


def test_import_does_not_import_the_client_library():
    code = ('import sys, kombu_transport_beanstalk; '
            'sys.exit(1 if "greenstalk" in sys.modules else 0)')
    assert subprocess.run([sys.executable, '-c', code], check=False).returncode == 0


def test_ships_py_typed():
    from importlib.resources import files
    assert files('kombu_transport_beanstalk').joinpath('py.typed').is_file()

