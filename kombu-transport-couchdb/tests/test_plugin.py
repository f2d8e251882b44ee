"""The plugin: cheap to import, Kombu 5's module path, URL forms, no password leaks."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_kombu_and_plugin_loads_no_http_client() -> None:
    code = (
        "import sys, kombu, kombu_transport_couchdb, kombu_transport_couchdb.plugin; "
        "from kombu.plugins import transport_info; transport_info('couchdb'); "
        "sys.exit(1 if 'requests' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("kombu_transport_couchdb").joinpath("py.typed").is_file()


def test_schemes_resolve_and_kombu5_module_path() -> None:
    import kombu.transport.couchdb as mod
    from kombu import Connection
    from kombu_transport_couchdb.transport import Transport

    assert mod.Transport is Transport
    assert Connection("couchdb://localhost/").get_transport_cls() is Transport
    assert Connection("couchdbs://localhost/").get_transport_cls() is Transport


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("couchdb://localhost", "http://localhost:5984/kombu_default"),
        ("couchdb://h:1234/jobs", "http://h:1234/jobs"),
        ("couchdbs://h/jobs", "https://h:5984/jobs"),
        ("couchdb://h/jobs?ssl=1", "https://h:5984/jobs"),
    ],
)
def test_url_forms(url: str, expected: str) -> None:
    from kombu import Connection

    assert Connection(url).transport.conninfo.db_url == expected


def test_password_never_in_repr_or_description() -> None:
    from kombu import Connection

    conn = Connection("couchdb://alice:s3cr3t-pw@h:5984/jobs")
    info = conn.transport.conninfo
    assert info.auth == ("alice", "s3cr3t-pw")
    for text in (repr(conn), repr(info), info.describe(), info.db_url):
        assert "s3cr3t-pw" not in text


def test_bad_database_name_is_a_value_error() -> None:
    from kombu import Connection

    with pytest.raises(ValueError, match="database name"):
        Connection("couchdb://h/Bad Name").transport  # noqa: B018


def test_unreachable_server_is_a_connection_error_without_password() -> None:
    from kombu import Connection

    conn = Connection("couchdb://bob:hunter2-pw@127.0.0.1:1/jobs", connect_timeout=2)
    with pytest.raises(tuple(conn.connection_errors)) as info:
        conn.connect()
    assert "hunter2-pw" not in str(info.value)
