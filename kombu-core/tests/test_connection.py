"""Connection: URL parsing, failover, masking, errors, retries."""

from __future__ import annotations

import pickle
import socket

import pytest
from kombu import BrokerConnection, Connection
from kombu.exceptions import OperationalError, TransportNotInstalled


def test_url_parts():
    conn = Connection(
        "redis://user:s3cret@broker.example:6380/3?visibility_timeout=60&ssl=true", transport_options={"x": 1}
    )
    assert conn.transport_cls == "redis"
    assert (conn.hostname, conn.port, conn.userid, conn.password, conn.virtual_host) == (
        "broker.example",
        6380,
        "user",
        "s3cret",
        "3",
    )
    assert conn.ssl is True
    assert conn.transport_options == {"x": 1, "visibility_timeout": "60"}


def test_amqp_vhost_slash():
    conn = Connection("amqp://guest:guest@localhost:5672//")
    assert conn.virtual_host == "/"
    assert conn.as_uri() == "amqp://guest:**@localhost:5672//"


def test_password_never_in_repr_or_uri():
    conn = Connection("redis://:hunter2@localhost:6379/0")
    assert "hunter2" not in repr(conn)
    assert "hunter2" not in conn.as_uri()
    assert "hunter2" in conn.as_uri(include_password=True)


def test_quoted_credentials_round_trip():
    conn = Connection("amqp://us%40er:p%2Fw@host/")
    assert conn.userid == "us@er" and conn.password == "p/w"
    assert conn.as_uri(include_password=True) == "amqp://us%40er:p%2Fw@host:5672//"


def test_no_arguments_is_amqp_as_in_kombu():
    conn = Connection()
    assert (conn.transport_cls, conn.hostname) == ("amqp", "localhost")
    assert Connection("localhost").transport_cls == "amqp"


def test_default_transport_missing_names_the_amqp_distribution(monkeypatch):
    from kombu import plugins

    reg = plugins.registry()
    monkeypatch.setattr(
        reg, "transports", {k: v for k, v in reg.transports.items() if k not in ("amqp", "pyamqp", "amqps", "pika")}
    )
    monkeypatch.setattr(plugins, "_is_installed", lambda dist: False)
    with pytest.raises(TransportNotInstalled, match="pip install kombu-transport-amqp"):
        Connection("localhost")


@pytest.mark.parametrize("url", ["redis//127.0.0.1:6379/0", "guest:secret@localhost//", "a b"])
def test_url_without_scheme_is_a_value_error_never_memory(url):
    with pytest.raises(ValueError, match="Malformed broker URL") as info:
        Connection(url)
    assert "secret" not in str(info.value)


def test_bare_host_port_is_split():
    conn = Connection("127.0.0.1:6379")
    assert (conn.transport_cls, conn.hostname, conn.port) == ("amqp", "127.0.0.1", 6379)


@pytest.mark.parametrize("url", ["redis://h:notaport", "redis://u:secret@h:70000", "redis://h:-1"])
def test_bad_port_is_a_value_error(url):
    with pytest.raises(ValueError, match="[Pp]ort") as info:
        Connection(url)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("port", [70000, -1, "x"])
def test_bad_port_argument_is_a_value_error(port):
    with pytest.raises(ValueError, match="[Pp]ort"):
        Connection("redis://h", port=port)


def test_one_url_has_no_alternates():
    assert Connection("redis://h/1").alt == []


def test_scheme_less_alternate_inherits_the_first_url():
    conn = Connection("redis://user:secret@a:6380/9;b")
    assert conn.alt == ["redis://user:secret@a:6380/9", "b"]
    conn.maybe_switch_next()
    assert (conn.transport_cls, conn.hostname, conn.port, conn.userid, conn.password, conn.virtual_host) == (
        "redis",
        "b",
        6380,
        "user",
        "secret",
        "9",
    )


@pytest.mark.parametrize(
    "alternate", ["tbait.evil://localhost", "tbait.evil+amqp://localhost", "xml.dom.minidom://localhost"]
)
def test_import_path_schemes_are_refused_without_importing(alternate):
    import sys

    for args, kwargs in (
        ((f"memory://;{alternate}",), {}),
        ((["memory://", alternate],), {}),
        (("memory://",), {"alternates": [alternate]}),
    ):
        with pytest.raises(ValueError, match="Invalid transport scheme"):
            Connection(*args, **kwargs)
    conn = Connection("memory://")
    with pytest.raises(ValueError, match="Invalid transport scheme"):
        conn.switch(alternate)
    assert conn.transport_cls == "memory"
    assert "tbait" not in sys.modules and "xml.dom.minidom" not in sys.modules


def test_alias():
    assert BrokerConnection is Connection


def test_missing_transport_names_distribution(monkeypatch):
    from kombu import plugins

    reg = plugins.registry()
    monkeypatch.setattr(reg, "transports", {k: v for k, v in reg.transports.items() if k != "sqs"})
    monkeypatch.setattr(plugins, "_is_installed", lambda dist: False)
    with pytest.raises(TransportNotInstalled, match="pip install kombu-transport-sqs"):
        Connection("sqs://")
    monkeypatch.setattr(plugins, "_is_installed", lambda dist: True)
    with pytest.raises(TransportNotInstalled, match="kombu-transport-sqs is installed but does not provide"):
        Connection("sqs://")
    with pytest.raises(TransportNotInstalled, match="no known distribution"):
        Connection("nosuchbroker://host")


def test_failover_alternates_and_strategy():
    conn = Connection("memory://a;memory://b;memory://c")
    assert conn.alt == ["memory://a", "memory://b", "memory://c"]
    assert conn.hostname == "a"
    conn.maybe_switch_next()
    assert conn.hostname == "b"
    conn.maybe_switch_next()
    conn.maybe_switch_next()
    assert conn.hostname == "a"


def test_clone_and_pickle_keep_parameters():
    conn = Connection("memory://host/vh", transport_options={"polling_interval": 0.01})
    for copy in (conn.clone(), pickle.loads(pickle.dumps(conn))):
        assert copy.info()["hostname"] == "host"
        assert copy.transport_options == {"polling_interval": 0.01}
        assert copy is not conn


def test_drain_events_times_out():
    with Connection("memory://") as conn:
        with pytest.raises(socket.timeout):
            conn.drain_events(timeout=0.05)


def test_ensure_connection_gives_operational_error_for_dead_server():
    port = _free_port()
    conn = Connection(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5)
    errors = []
    with pytest.raises(OperationalError):
        conn.ensure_connection(
            max_retries=2, interval_start=0, interval_step=0.01, errback=lambda exc, interval: errors.append(exc)
        )
    assert len(errors) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ensure_retries_on_recoverable_error_and_revives():
    conn = Connection("memory://")
    calls = []

    class Flaky:
        revived = []

        def revive(self, channel):
            self.revived.append(channel)

    obj = Flaky()

    def fun(x):
        calls.append(x)
        if len(calls) < 3:
            raise conn.recoverable_connection_errors[0]("boom")
        return x * 2

    ensured = conn.ensure(obj, fun, max_retries=5, interval_start=0, interval_step=0, interval_max=0)
    assert ensured(21) == 42
    assert calls == [21, 21, 21]
    assert len(obj.revived) == 2


def test_ensure_gives_up_after_max_retries():
    conn = Connection("memory://")

    def fun():
        raise conn.recoverable_connection_errors[0]("always")

    with pytest.raises(conn.recoverable_connection_errors[0]):
        conn.ensure(conn, fun, max_retries=1, interval_start=0, interval_step=0, interval_max=0)()


def test_autoretry_returns_result_and_channel():
    with Connection("memory://") as conn:

        def declare(name, channel):
            return channel.queue_declare(name)[0]

        result, channel = conn.autoretry(declare)("ar.q")
        assert result == "ar.q"
        assert channel is not None


def test_context_manager_releases():
    conn = Connection("memory://")
    with conn:
        assert conn.default_channel is not None
        assert conn.connected
    assert not conn.connected


def test_several_seed_hosts_stay_one_host_string():
    conn = Connection("memory://user:secret@h1:1234,h2:5678/db?replicaSet=rs")
    assert (conn.hostname, conn.port, conn.virtual_host) == ("h1:1234,h2:5678", None, "db")
    assert conn.transport_options["replicaSet"] == "rs"
    assert conn.as_uri() == "memory://user:**@h1:1234,h2:5678/db"
