"""memory:// against the whole conformance kit, and the kit's own fault proxy.

memory:// is in-process: "a consumer's connection dies" is exercised by
closing it, and the fault-proxy tests skip (the URL names no host). The
capability flags come from the installed plugin (``kombu.builtins``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from kombu.testing import TransportConformance
from kombu.testing.proxy import FaultProxy, rewrite_url, url_address

pytest_plugins = ("pytester",)


class TestMemoryConformance(TransportConformance):
    url = "memory://"


def test_memory_capabilities_come_from_the_plugin() -> None:
    from kombu.plugins import transport_info

    assert TestMemoryConformance.kit_capabilities() == transport_info("memory").capabilities


def test_memory_is_not_a_network_transport() -> None:
    assert TestMemoryConformance().kit_broker_address() is None


# -- the fault proxy, against a local echo server ----------------------------


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A threaded TCP echo server on an ephemeral port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def echo(conn: socket.socket) -> None:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[:2]
    finally:
        stop.set()
        thread.join(2)
        server.close()
        for conn in conns:
            conn.close()


def _roundtrip(address: tuple[str, int], payload: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def test_proxy_forwards_both_ways(echo_server: tuple[str, int]) -> None:
    with FaultProxy(*echo_server) as proxy:
        assert _roundtrip(proxy.address, b"ping" * 1000) == b"ping" * 1000
        assert proxy.accepted == 1


def test_proxy_cut_closes_live_connections_and_accepts_new(
    echo_server: tuple[str, int],
) -> None:
    with FaultProxy(*echo_server) as proxy:
        sock = socket.create_connection(proxy.address, timeout=5)
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        assert proxy.cut() == 1
        try:
            assert sock.recv(1) == b"", "a cut connection still delivered data"
        except OSError:
            pass  # a reset is an acceptable way to see the cut
        finally:
            sock.close()
        assert _roundtrip(proxy.address, b"again") == b"again"
        assert proxy.accepted == 2


def test_proxy_pause_holds_bytes_until_resume(echo_server: tuple[str, int]) -> None:
    with FaultProxy(*echo_server) as proxy:
        with socket.create_connection(proxy.address, timeout=5) as sock:
            sock.sendall(b"a")
            assert sock.recv(1) == b"a"
            proxy.pause()
            sock.sendall(b"b")
            sock.settimeout(0.3)
            with pytest.raises(socket.timeout):
                sock.recv(1)
            proxy.resume()
            sock.settimeout(5)
            assert sock.recv(1) == b"b"


def test_proxy_stop_refuses_new_connections(echo_server: tuple[str, int]) -> None:
    proxy = FaultProxy(*echo_server).start()
    address = proxy.address
    proxy.stop()
    with pytest.raises(OSError):
        _roundtrip(address, b"x")
    proxy.stop()  # idempotent


def test_rewrite_url_keeps_credentials_path_and_query() -> None:
    url = "amqp://user:p%40ss@broker.example:5672/vhost?heartbeat=10"
    assert rewrite_url(url, ("127.0.0.1", 4000)) == ("amqp://user:p%40ss@127.0.0.1:4000/vhost?heartbeat=10")
    assert rewrite_url("redis://localhost/0", ("127.0.0.1", 1)) == "redis://127.0.0.1:1/0"
    assert url_address("redis://h:6380/1;redis://other:1/1") == ("h", 6380)
    assert url_address("memory://") == (None, None)


# -- the plugin and the kit themselves ----------------------------------------


def test_plugin_import_is_light() -> None:
    """pytest loads the plugin everywhere: it must not pull in broker clients or the kit."""
    import subprocess
    import sys

    code = (
        "import sys, kombu.testing.plugin\n"
        "heavy = [m for m in ('amqp', 'redis', 'pika', 'boto3', 'pymongo', 'kombu.testing.suites',"
        " 'kombu.testing.base', 'kombu.testing.proxy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_kit_fails_a_transport_that_ignores_an_undeclared_capability(
    pytester: pytest.Pytester,
) -> None:
    """Declaring less than memory:// does makes the kit's negative checks fail."""
    pytester.makepyfile(
        """
        from kombu.hookspecs import Capabilities
        from kombu.testing import PriorityConformance, RoutingConformance

        class TestUnderDeclared(PriorityConformance, RoutingConformance):
            url = "memory://"
            capabilities = Capabilities(exchange_types=frozenset({"direct"}))
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-k", "undeclared")
    outcomes = result.parseoutcomes()
    # topic, fanout and headers are not declared but memory:// accepts them;
    # priorities are not declared but memory:// honours them.
    assert outcomes.get("failed") == 5, result.stdout.str()


def test_kit_requires_a_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from kombu.testing import DeclareConformance

        class TestNoUrl(DeclareConformance):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-k", "passive_declare_of_missing_queue")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*must set the class attribute `url`*"])


def test_kombu_connection_fixture_defaults_to_memory(kombu_connection: object) -> None:
    from kombu import Exchange, Producer, Queue

    conn = kombu_connection
    queue = Queue("kit.fixture.q", Exchange("kit.fixture.x", "direct"), "k")
    bound = queue(conn.default_channel)  # type: ignore[attr-defined]
    bound.declare()
    try:
        Producer(conn.default_channel, exchange=queue.exchange).publish(  # type: ignore[attr-defined]
            "via-fixture", routing_key="k"
        )
        message = bound.get()
        assert message is not None and message.payload == "via-fixture"
        message.ack()
        assert conn.transport_cls == "memory"  # type: ignore[attr-defined]
    finally:
        bound.delete()


@pytest.mark.kombu_url("memory://marked/vhost")
def test_kombu_url_marker(kombu_url: str) -> None:
    assert kombu_url == "memory://marked/vhost"
