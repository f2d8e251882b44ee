"""scripts/services.sh and scripts/ping.py against real servers.

Needs what `make services` provides: RabbitMQ on 127.0.0.1:5672 (guest/guest) and the
redis-server binary.  The cold path starts a private redis-server on a free port in a
temporary SERVICES_DIR, then stops it.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
SERVICES = SCRIPTS / "services.sh"
PING = SCRIPTS / "ping.py"
AMQP_PORT = int(os.environ.get("AMQP_PORT", "5672"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(*args):
    return subprocess.run([sys.executable, str(PING), *args], capture_output=True, text=True, check=False, timeout=30)


def services(*args, **env):
    full = dict(os.environ, **{k: str(v) for k, v in env.items()})
    return subprocess.run(
        ["bash", str(SERVICES), *args], capture_output=True, text=True, env=full, check=False, timeout=120
    )


def test_ping_amqp_logs_in():
    assert ping("amqp", "--port", str(AMQP_PORT)).returncode == 0


def test_ping_amqp_refuses_wrong_password_and_vhost():
    bad = ping("amqp", "--port", str(AMQP_PORT), "--password", "not-the-password")
    assert bad.returncode == 1 and "guest" in bad.stderr
    assert "not-the-password" not in bad.stderr
    novhost = ping("amqp", "--port", str(AMQP_PORT), "--vhost", "no-such-vhost-here")
    assert novhost.returncode == 1 and "no-such-vhost-here" in novhost.stderr


def test_ping_fails_on_a_closed_port():
    for server in ("amqp", "beanstalk", "mongodb", "sqs", "couchdb"):
        result = ping(server, "--port", str(free_port()), "--timeout", "2")
        assert result.returncode == 1, server


def test_ping_amqp_fails_on_a_port_speaking_another_protocol(tmp_path):
    """A port that is open but is not AMQP is not ready."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, str(PING), "amqp", "--port", str(port), "--timeout", "5"],
            stderr=subprocess.PIPE,
            text=True,
        )
        conn, _ = srv.accept()
        conn.recv(8)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()
        assert proc.wait(timeout=30) == 1
        assert proc.stderr.read()


def test_running_servers_are_left_alone():
    result = services("rabbitmq", AMQP_PORT=AMQP_PORT)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr


def test_starts_a_missing_redis_idempotently_and_stops_it(tmp_path):
    port = free_port()
    env = {"REDIS_PORT": port, "SERVICES_DIR": tmp_path}
    try:
        first = services("redis", **env)
        assert first.returncode == 0, first.stderr
        assert "started" in first.stderr
        pong = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
        assert pong.stdout.strip() == "PONG"
        second = services("redis", **env)
        assert second.returncode == 0 and "already running" in second.stderr
        assert (tmp_path / f"redis-{port}" / "redis.log").exists()
    finally:
        stopped = services("--stop", "redis", **env)
    assert stopped.returncode == 0, stopped.stderr
    pong = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
    assert pong.stdout.strip() != "PONG"


def test_a_port_taken_by_another_server_fails_naming_the_server(tmp_path):
    # RabbitMQ's port answers, but not as redis: the script must not start over it.
    result = services("redis", REDIS_PORT=AMQP_PORT, SERVICES_TIMEOUT=1, SERVICES_DIR=tmp_path)
    assert result.returncode != 0
    assert "FAILED: redis" in result.stderr


@pytest.mark.parametrize("name", ["nosuchserver"])
def test_unknown_server_is_an_error(name, tmp_path):
    result = services(name, SERVICES_DIR=tmp_path)
    assert result.returncode != 0
    assert f"FAILED: {name}" in result.stderr
