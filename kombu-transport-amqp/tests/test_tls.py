"""TLS (``amqps://`` and ``ssl=``) end to end.

The test RabbitMQ has no TLS listener, so a small TLS terminator in front of
it (this module's :class:`TLSFront`, with a throw-away self-signed
certificate made by ``openssl``) accepts the client's TLS connection and
forwards the decrypted bytes to 127.0.0.1:5672. The client side is the real
transport code with a real TLS handshake and certificate verification.
"""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.testing.services import missing_service

from .conftest import fresh


class TLSFront:
    """Accept TLS on an ephemeral port; forward plaintext to the broker."""

    def __init__(self, certfile: str, keyfile: str) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stopping = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                raw, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                client = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", 5672))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: ssl.SSLSocket, upstream: socket.socket) -> None:
        try:
            while not self.stopping.is_set():
                if client.pending():
                    readable = [client]
                else:
                    readable, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopping.set()
        self.server.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        missing_service("openssl is needed to make a test certificate")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


@pytest.fixture
def front(certificate: tuple[str, str]) -> Iterator[TLSFront]:
    server = TLSFront(*certificate)
    try:
        yield server
    finally:
        server.stop()


def roundtrip(conn: Connection, names: list[str]) -> Any:
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    queue = Queue(fresh(names), exchange, "key", durable=False)
    queue(conn.default_channel).declare()
    Producer(conn.default_channel).publish({"tls": True}, exchange=exchange, routing_key="key")
    got: list[Any] = []
    with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
        while not got:
            conn.drain_events(timeout=10)
    return got[0]


@pytest.mark.parametrize("scheme", ["amqps", "pika"])
def test_tls_with_certificate_verification(
    scheme: str, front: TLSFront, certificate: tuple[str, str], names: list[str]
) -> None:
    cert, _ = certificate
    options = {"ca_certs": cert, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "localhost"}
    url = f"{scheme}://guest:guest@127.0.0.1:{front.port}//"
    with Connection(url, ssl=options) as conn:
        assert roundtrip(conn, names) == {"tls": True}
    assert front.accepted >= 1


def test_amqps_refuses_an_unverified_certificate(front: TLSFront) -> None:
    conn = Connection(
        f"amqps://guest:guest@127.0.0.1:{front.port}//",
        connect_timeout=5,
        ssl={"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "localhost"},
    )
    with pytest.raises((ssl.SSLError, OSError)):
        conn.connect()
