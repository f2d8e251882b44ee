"""Fixtures: the real Redis server, a private one the tests may stop, Kombu 5.7.0.

The tests talk to the Redis at ``KOMBU_REDIS_URL`` (default
``redis://127.0.0.1:6379/14``). When it does not answer, the tests skip --
unless the environment variable ``CI`` is set, in which case they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.testing.services import missing_service

REDIS_URL = os.environ.get("KOMBU_REDIS_URL", "redis://127.0.0.1:6379/14")
ROOT = Path(__file__).resolve().parents[2]
KOMBU57_PYTHON = ROOT / ".venv-kombu57" / "bin" / "python"


def redis_available(url: str = REDIS_URL) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not redis_available():
        missing_service(f"no Redis server at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def rclient(redis_url: str) -> Iterator[Any]:
    """A plain redis-py client on the test database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def uname() -> str:
    """A fresh, unique name prefix for keys of one test."""
    return f"t.{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own on a free port, which tests stop and start.

    Data survives ``restart()`` (``SHUTDOWN SAVE`` writes a snapshot into the
    private directory that the next start loads), as it would on a server
    configured for persistence.
    """

    def __init__(self, workdir: Path, aof: bool = False) -> None:
        self.port = free_port()
        self.dir = workdir
        self.aof = aof
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing_service("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.aof else "no",
                # Answer a write only once it is in the file: with the default
                # everysec, a slow fsync postpones the write while the answers
                # go out, and a SIGKILL loses answered writes (the server's loss,
                # not the transport's).
                "--appendfsync",
                "always",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.05)

    def stop(self, save: bool = True) -> None:
        import redis

        if self.proc is None:
            return
        try:
            redis.Redis(port=self.port).shutdown(save=save, nosave=not save)
        except Exception:  # noqa: BLE001 - the connection drops as it shuts down
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop(save=True)
        self.start()

    def kill(self) -> None:
        """SIGKILL the server (what survives is what its AOF holds)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop(save=False)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private redis-server with the append-only file on (survives SIGKILL)."""
    server = PrivateRedis(tmp_path, aof=True)
    server.start()
    try:
        yield server
    finally:
        server.stop(save=False)


@pytest.fixture(scope="session")
def kombu57() -> Path:
    """The Kombu 5.7.0 reference interpreter (scripts/reference-venv.sh)."""
    if not KOMBU57_PYTHON.exists():
        missing_service(f"Kombu 5.7.0 reference venv {KOMBU57_PYTHON} is missing (scripts/reference-venv.sh)")
    return KOMBU57_PYTHON


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis_public_api: needs redis-py's public connection API")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the public-path tests on a redis-py that lacks that API (never skip them)."""
    from kombu_transport_redis import client_path

    if client_path.has_public_api():
        return
    dropped = [item for item in items if item.get_closest_marker("redis_public_api")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
