"""The plugin, the URL forms and the options: no server needed except where named."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kombu import Connection
from kombu_transport_mongodb.uri import client_config


def test_plugin_and_import_kombu_load_no_client_library() -> None:
    code = (
        "import sys, kombu; from kombu.plugins import transport_info; "
        "info = transport_info('mongodb'); import kombu_transport_mongodb.plugin; "
        "sys.exit(1 if 'pymongo' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("kombu_transport_mongodb").joinpath("py.typed").is_file()


def test_scheme_resolves_and_kombu5_module_path_imports() -> None:
    from kombu.transport import mongodb  # type: ignore[attr-defined]
    from kombu_transport_mongodb.transport import Transport

    assert Connection("mongodb://127.0.0.1/").get_transport_cls() is Transport
    assert mongodb.Transport is Transport


@pytest.mark.parametrize(
    ("url", "uri", "database"),
    [
        ("mongodb://127.0.0.1/", "mongodb://127.0.0.1:27017/kombu_default", "kombu_default"),
        ("mongodb://localhost:27018/jobs", "mongodb://localhost:27018/jobs", "jobs"),
        (
            "mongodb://u:p%40ss@db.example/jobs?authSource=admin&replicaSet=rs0",
            "mongodb://u:p%40ss@db.example:27017/jobs?authSource=admin&replicaSet=rs0",
            "jobs",
        ),
        (
            "mongodb+srv://u:p@cluster0.example.net/jobs?retryWrites=true",
            "mongodb+srv://u:p@cluster0.example.net/jobs?retryWrites=true",
            "jobs",
        ),
    ],
)
def test_url_forms(url: str, uri: str, database: str) -> None:
    conn = Connection(url)
    config = client_config(conn, conn.transport_options)
    assert config.uri == uri
    assert config.database == database


def test_transport_options_in_the_url_are_not_passed_to_pymongo() -> None:
    conn = Connection("mongodb://127.0.0.1/q?visibility_timeout=5&tls=true&ttl=1")
    config = client_config(conn, conn.transport_options)
    assert config.uri == "mongodb://127.0.0.1:27017/q?tls=true"
    assert conn.transport_options["visibility_timeout"] == "5"


def test_default_database_option() -> None:
    conn = Connection("mongodb://127.0.0.1", transport_options={"default_database": "elsewhere"})
    assert client_config(conn, conn.transport_options).database == "elsewhere"


def test_password_never_shown() -> None:
    conn = Connection("mongodb://user:s3cr3t@127.0.0.1:1/db", connect_timeout=0.5)
    config = client_config(conn, conn.transport_options)
    assert "s3cr3t" not in config.display and "s3cr3t" not in repr(conn)
    with pytest.raises(Exception) as caught:
        conn.connect()
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in repr(caught.value)


def test_bad_option_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="visibility_timeout"):
        Connection("mongodb://127.0.0.1/", transport_options={"visibility_timeout": "soon"}).create_transport()


def test_unreachable_server_is_a_connection_error() -> None:
    conn = Connection("mongodb://127.0.0.1:1/db", connect_timeout=0.5)
    with pytest.raises(conn.connection_errors):
        conn.connect()
