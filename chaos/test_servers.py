"""chaos.servers: the private-server life every target relies on, on real processes.

A kill must leave the port and the persisted data for the restart (the
``server-kill`` fault depends on both), a start that never answers must fail
in bounded time and leave no process behind, and ``available`` must say what
is missing.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
from kombu.testing.services import missing_service

from chaos.servers import PrivateServer, ServerTarget
from chaos.targets.redis import RedisTarget


class _Silent(PrivateServer):
    """A process that never answers beanstalk's protocol (it listens nowhere)."""

    program = "python-sleeper"
    protocol = "beanstalk"
    start_timeout = 1.0

    def binary(self) -> str | None:
        return sys.executable

    def __init__(self) -> None:
        super().__init__()
        self.pids: list[int] = []

    def command(self, workdir: Path, data: Path) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]

    def launch(self, workdir: Path) -> None:
        super().launch(workdir)
        assert self.proc is not None
        self.pids.append(self.proc.pid)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_keeps_port_and_data_for_the_restart(tmp_path: Path) -> None:
    target = RedisTarget()
    why = target.available()
    if why is not None:
        missing_service(f"chaos target redis: {why}")
    import redis

    target.start(tmp_path)
    try:
        port = target.port
        assert port and target.address == ("127.0.0.1", port)
        client = redis.Redis(port=port, socket_connect_timeout=1)
        try:
            client.set("chaos-servers-key", b"kept")
            target.kill()
            assert target.proc is None
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(target.address, 1).close()
            target.start(tmp_path)
            assert target.port == port
            assert client.get("chaos-servers-key") == b"kept"
        finally:
            client.close()
    finally:
        target.stop()
    assert target.port == 0 and target.proc is None


def test_a_server_that_never_answers_fails_and_is_killed(tmp_path: Path) -> None:
    server = _Silent()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"python-sleeper on port \d+"):
        server.start(tmp_path)
    assert time.monotonic() - started < 30
    assert server.proc is None
    assert len(server.pids) == 1 and _gone(server.pids[0])
    server.stop()
    assert server.port == 0


def test_available_names_what_is_missing() -> None:
    class NoProgram(ServerTarget):
        program = "no-such-server-program"
        installed_at = Path("/nonexistent/no-such-server-program")
        install_hint = "install it somehow"

    class NoClient(ServerTarget):
        program = Path(sys.executable).name
        installed_at = Path(sys.executable)
        clients = ("no_such_client_module",)

    assert NoProgram().available() == "no-such-server-program is not installed (install it somehow)"
    assert NoClient().available() == "no_such_client_module (Python) is not installed"


def test_url_points_at_the_server_or_at_a_proxy() -> None:
    target = RedisTarget()
    target.port = 6390
    assert target.url() == "redis://127.0.0.1:6390/0"
    assert target.url(("127.0.0.1", 7000)) == "redis://127.0.0.1:7000/0"
