"""The other URL schemes against private servers: sentinel://, redis+socket://."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.testing.services import missing_service

from .conftest import PrivateRedis, free_port


def _roundtrip(url: str, name: str, **conn_kw: Any) -> list[Any]:
    fx = Exchange(name + ".fx", "fanout")
    q = Queue(name, Exchange(name + ".x"), routing_key=name)
    fq = Queue(name + ".f", fx)
    got: list[Any] = []
    with Connection(url, **conn_kw) as conn:
        with Consumer(conn.channel(), [q, fq], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            try:
                conn.drain_events(timeout=0.2)  # subscribe before broadcasting
            except TimeoutError:
                pass
            Producer(conn.channel(), exchange=q.exchange).publish("direct", routing_key=name)
            Producer(conn.channel(), exchange=fx).publish("fanout")
            deadline = time.monotonic() + 5
            while len(got) < 2 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.3)
                except TimeoutError:
                    pass
    return sorted(got)


@pytest.fixture
def sentinel(private_redis: PrivateRedis, tmp_path: Path) -> Iterator[tuple[int, PrivateRedis]]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed")
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor kombu 127.0.0.1 {private_redis.port} 1\n")
    proc = subprocess.Popen(
        [str(binary), str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import redis

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=port).sentinel_master("kombu"):
                    break
            except Exception:  # noqa: BLE001
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sentinel did not start")
            time.sleep(0.1)
        yield port, private_redis
    finally:
        proc.terminate()
        proc.wait(10)


def test_sentinel_direct_and_fanout(sentinel: tuple[int, PrivateRedis], uname: str) -> None:
    port, _ = sentinel
    url = f"sentinel://127.0.0.1:{free_port()};sentinel://127.0.0.1:{port}"
    assert _roundtrip(url, uname, transport_options={"master_name": "kombu"}) == ["direct", "fanout"]


def test_sentinel_needs_master_name() -> None:
    with pytest.raises(ValueError, match="master_name"):
        Connection("sentinel://127.0.0.1:26379").connect()


def test_unix_socket(tmp_path: Path, uname: str) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed")
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [str(binary), "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not open its socket")
            time.sleep(0.05)
        assert _roundtrip(f"redis+socket://{sock}?virtual_host=3", uname) == ["direct", "fanout"]
        import redis

        assert redis.Redis(unix_socket_path=str(sock), db=3).exists("_kombu.binding." + uname + ".x")
    finally:
        proc.terminate()
        proc.wait(10)


def test_rediss_tls(tmp_path: Path, uname: str) -> None:
    binary, openssl = shutil.which("redis-server"), shutil.which("openssl")
    if binary is None or openssl is None:
        missing_service("redis-server and openssl are needed for the TLS test")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(cert),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"rediss://127.0.0.1:{port}/2?ssl_cert_reqs=required&ssl_ca_certs={cert}"
        deadline = time.monotonic() + 10
        while True:
            try:
                Connection(url).connect().release()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert _roundtrip(url, uname) == ["direct", "fanout"]
        # Without the CA the server's certificate is refused.
        with pytest.raises(Exception):  # noqa: B017 - redis-py's or Kombu's error type
            Connection(f"rediss://127.0.0.1:{port}/2?ssl_cert_reqs=required", connect_timeout=2).connect()
    finally:
        proc.terminate()
        proc.wait(10)
