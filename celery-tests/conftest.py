"""Real Celery 5.7.0 processes for the end-to-end tests.

The tests run in the project's venv; Celery runs in ``.venv-celery`` (``make
celery``, installed the README's way), as subprocesses: workers (prefork pool,
concurrency 2), beat, the ``celery`` command, and one client process
(``client.py``) that makes the Celery calls a test asks for. One worker runs
per broker/backend combination for the whole module (``stack``); tests that
kill it start the next one. Without the Celery venv or a server the tests are
skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.testing.services import missing_service, require_service, tcp_probe

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CELERY_VENV = Path(os.environ.get("CELERY_VENV", ROOT / ".venv-celery"))
PYTHON = CELERY_VENV / "bin" / "python"
HOST = socket.gethostname()

REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
#: name -> (broker, result backend, servers needed)
STACKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "redis": (f"{REDIS}/11", f"{REDIS}/12", ("redis",)),
    "amqp-redis": (AMQP, f"{REDIS}/12", ("rabbitmq", "redis")),
    "amqp-rpc": (AMQP, "rpc://", ("rabbitmq",)),
}
PORTS = {"redis": 6379, "rabbitmq": 5672, "sqs": 5000}
#: sqs:// on the shared moto server (test_sqs_worker.py; results in Redis).
SQS = "sqs://celery:celery@127.0.0.1:5000"


def require_celery() -> None:
    if not PYTHON.exists():
        missing_service(f"no Celery venv at {CELERY_VENV} (run `make celery`)")


def require_servers(servers: tuple[str, ...]) -> None:
    for server in servers:
        require_service(server, tcp_probe("127.0.0.1", PORTS[server]))


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Process:
    """A Celery command in its own session, output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                args,
                cwd=HERE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in tail(self.log, 400):
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"exited with {self.popen.returncode} before {text!r}:\n{tail(self.log)}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} after {timeout} s:\n{tail(self.log)}")

    def signal(self, signum: int, group: bool = False) -> None:
        if self.popen.poll() is None:
            if group:
                os.killpg(self.popen.pid, signum)
            else:
                self.popen.send_signal(signum)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (warm shutdown), then SIGKILL of the whole group if it lingers."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL, group=True)
            return self.popen.wait(10)
        finally:
            # Pool children left behind by a killed parent.
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Client:
    """``client.py`` in the Celery venv: one JSON request and answer per call."""

    def __init__(self, env: dict[str, str], log: Path, venv: Path = CELERY_VENV) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.popen = subprocess.Popen(
                [str(venv / "bin" / "python"), "client.py"],
                cwd=HERE,
                env=env,
                text=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.selector = selectors.DefaultSelector()
        assert self.popen.stdout is not None
        self.selector.register(self.popen.stdout, selectors.EVENT_READ)

    def call(self, op: str, timeout: float = 90, **kw: Any) -> Any:
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self.popen.stdin.write(json.dumps({"op": op, "kw": kw}) + "\n")
        self.popen.stdin.flush()
        if not self.selector.select(timeout):
            raise AssertionError(f"client op {op} gave no answer in {timeout} s:\n{tail(self.log)}")
        line = self.popen.stdout.readline()
        if not line:
            raise AssertionError(f"client exited during {op}:\n{tail(self.log)}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"{op}: {answer['error']}\n{tail(self.log, 25)}")
        return answer["ok"]

    def close(self) -> None:
        if self.popen.stdin is not None:
            self.popen.stdin.close()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        self.selector.close()


class Stack:
    """A broker/backend combination: the environment, the current worker and the client."""

    def __init__(
        self,
        name: str,
        broker: str,
        backend: str,
        scratch: Path,
        venv: Path = CELERY_VENV,
        worker_args: tuple[str, ...] = ("-E",),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.celery_bin = str(venv / "bin" / "celery")
        self.worker_args = worker_args
        self.broker, self.backend = broker, backend
        self.scratch = scratch
        run = uuid.uuid4().hex[:8]
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        self.env.update(
            CT_BROKER=broker, CT_BACKEND=backend, CT_QUEUE=f"ct-{name}-{run}", CT_DIR=str(scratch), PYTHONUNBUFFERED="1"
        )
        self.env.update(extra_env or {})
        self.node_base = f"ct-{name}-{run}"
        self.generation = 0
        self.worker: Process | None = None
        self.client = Client(self.env, scratch / "client.log", venv)

    @property
    def node(self) -> str:
        return f"{self.node_base}-{self.generation}@{HOST}"

    def start_worker(self) -> Process:
        self.generation += 1
        log = self.scratch / f"worker-{self.generation}.log"
        self.worker = Process(
            [
                self.celery_bin,
                "-A",
                "celeryapp",
                "worker",
                "-P",
                "prefork",
                "-c",
                "2",
                *self.worker_args,
                "-l",
                "info",
                "-n",
                f"{self.node_base}-{self.generation}@%h",
            ],
            self.env,
            log,
        )
        self.worker.wait_for(" ready.", timeout=90)
        return self.worker

    def celery(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the ``celery`` command on this stack's app."""
        return subprocess.run(
            [self.celery_bin, "-A", "celeryapp", *args],
            cwd=HERE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self, *args: str, log: str, extra_env: dict[str, str] | None = None) -> Process:
        return Process(
            [self.celery_bin, "-A", "celeryapp", *args], {**self.env, **(extra_env or {})}, self.scratch / log
        )

    def close(self) -> None:
        self.client.close()
        if self.worker is not None:
            self.worker.stop()


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running worker and a client on one broker/backend combination, for the whole module."""
    require_celery()
    broker, backend, servers = STACKS[request.param]
    require_servers(servers)
    scratch = tmp_path_factory.mktemp(f"celery-{request.param}")
    running = Stack(request.param, broker, backend, scratch)
    try:
        running.start_worker()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def quorum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker whose task queue is a quorum queue on a topic exchange (RabbitMQ, redis results)."""
    require_celery()
    require_servers(("rabbitmq", "redis"))
    scratch = tmp_path_factory.mktemp("celery-quorum")
    running = Stack("amqp-quorum", AMQP, f"{REDIS}/12", scratch, extra_env={"CT_QUORUM": "1"})
    try:
        running.start_worker()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def sqs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker on sqs:// (moto), results in Redis; no events (Celery has none on SQS)."""
    require_celery()
    require_servers(("sqs", "redis"))
    scratch = tmp_path_factory.mktemp("celery-sqs")
    running = Stack("sqs", SQS, f"{REDIS}/12", scratch, worker_args=())
    try:
        running.start_worker()
        yield running
    finally:
        running.close()


@pytest.fixture
def memory_client(tmp_path: Path) -> Iterator[Client]:
    """A client process whose app uses memory:// and the in-memory result cache (no server)."""
    require_celery()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(CT_BROKER="memory://", CT_BACKEND="cache+memory://", CT_QUEUE="ct-memory", CT_DIR=str(tmp_path))
    client = Client(env, tmp_path / "client.log")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def celery_python() -> Path:
    """The Celery venv's interpreter (skips, or fails under CI, when the venv is missing)."""
    require_celery()
    return PYTHON


@pytest.fixture
def marker() -> str:
    """A fresh marker file name in the stack's scratch folder."""
    return f"m-{uuid.uuid4().hex[:10]}"
