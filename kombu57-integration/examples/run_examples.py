#!/usr/bin/env python3
"""Run Kombu 5.7.0's own ``examples/`` unchanged against memory://, redis:// and amqp://.

    .venv/bin/python kombu57-integration/examples/run_examples.py             # this project
    .venv/bin/python kombu57-integration/examples/run_examples.py --kombu57   # Kombu 5.7.0
    .venv/bin/python kombu57-integration/examples/run_examples.py redis hello rpc

Positional arguments are broker and example names (default: every one). The
examples come from Kombu 5.7.0's sdist, downloaded at run time into the ignored
``.kombu57-sdist/`` by ``kombu57-integration/run.py``; they are never committed.

Each example runs in a subprocess of the interpreter under test: this project's
``.venv/bin/python`` or, with ``--kombu57``, ``.venv-kombu57/bin/python`` (Kombu
5.7.0 itself, the reference). The one change made to an example is the broker
URL: every string literal that is a broker URL (``'amqp://...'``,
``'pyamqp://...'``, ``'memory://...'``, ``'redis://...'``) is replaced, whole,
by the URL of the broker under test (:func:`substitute_url`). Nothing else in
the file is touched.

Producer/consumer pairs run together; a consumer that never exits by itself
(``complete_receive``, ``rpc_server``, ``simple_task_queue.worker``) is stopped
with SIGINT once it has printed what it should, or after a bounded wait. Before
a pair runs, the queues it uses are declared as the example declares them and
purged (the broker state a user has after starting the consumer once), so the
pair's outcome does not depend on which process wins the race to declare, and
leftovers of an earlier run cannot be mistaken for this run's messages. The
verdict is on the observable output: the message bodies printed.

Exit status: 0 when every example that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTEGRATION_DIR = HERE.parent
ROOT = INTEGRATION_DIR.parent
OURS = ROOT / ".venv" / "bin" / "python"
KOMBU57 = ROOT / ".venv-kombu57" / "bin" / "python"

#: Generous bounds: the machine is shared, these are never speed assertions.
STEP_TIMEOUT = 45.0
CONSUMER_WAIT = 45.0
STOP_GRACE = 10.0

BROKERS: dict[str, str] = {
    "memory": "memory://",
    "redis": f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}",
    "amqp": f"amqp://guest:guest@127.0.0.1:{os.environ.get('AMQP_PORT', '5672')}//",
}

_URL_LITERAL = re.compile(
    r"""(?P<q>['"])(?:py)?amqp://[^'"\n]*(?P=q)"""
    r"""|(?P<q2>['"])(?:memory|redis)://[^'"\n]*(?P=q2)"""
)


def substitute_url(source: str, url: str) -> tuple[str, int]:
    """Replace every broker-URL string literal in ``source`` by ``url``.

    Returns the new source and the number of literals replaced. The quote
    character of each literal is kept; nothing but the literal changes.
    """

    def replace(match: re.Match[str]) -> str:
        quote = match.group("q") or match.group("q2")
        return f"{quote}{url}{quote}"

    return _URL_LITERAL.subn(replace, source)


def examples_source() -> Path:
    """The ``examples/`` folder of Kombu 5.7.0's sdist, fetched if needed."""
    sys.path.insert(0, str(INTEGRATION_DIR))
    try:
        import run as kombu57_run  # kombu57-integration/run.py
    finally:
        sys.path.remove(str(INTEGRATION_DIR))
    kombu57_run.fetch_sdist()
    folder: Path = kombu57_run.SOURCE / "examples"
    if not folder.is_dir():
        # The sdist was unpacked by an older run.py that kept only t/.
        prefix = f"kombu-{kombu57_run.VERSION}/examples/"
        archive = kombu57_run.SDIST_DIR / f"kombu-{kombu57_run.VERSION}.tar.gz"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            tar.extractall(kombu57_run.SDIST_DIR, members=members, filter="data")
    return folder


def prepare(source: Path, broker: str, into: Path) -> Path:
    """Copy ``source`` to ``into/broker`` with every broker URL pointing at ``broker``."""
    target = into / broker
    if target.exists():
        return target
    shutil.copytree(source, target)
    for path in target.rglob("*.py"):
        text, _ = substitute_url(path.read_text(), BROKERS[broker])
        path.write_text(text)
    return target


@dataclass(frozen=True)
class Step:
    """One process of an example: ``argv`` after the interpreter, run in the examples folder.

    A ``background`` step is a consumer started first and stopped by SIGINT once
    the example's check passes (or the wait is over); the others run to
    completion in order.
    """

    name: str
    argv: tuple[str, ...]
    background: bool = False


#: What an example must have printed: ``(outputs by step name, broker) -> problem or None``.
Check = Callable[[dict[str, str], str], "str | None"]

#: queue name, exchange name (None: the default exchange), exchange type, routing key
QueueSpec = tuple[str, "str | None", str, str]


@dataclass(frozen=True)
class Example:
    """An example of Kombu's, how to run it and what it must print."""

    name: str
    steps: tuple[Step, ...]
    check: Check
    #: Declared as the example declares them, then purged, before the run.
    queues: tuple[QueueSpec, ...] = ()
    #: Purged (when they exist) before the run.
    purge: tuple[str, ...] = ()
    #: Run after the steps with the interpreter under test: prints a JSON value for ``check``.
    probe: str | None = None
    #: All steps share one process (so memory:// can run it).
    single_process: bool = True
    timeout: float = STEP_TIMEOUT


@dataclass
class Outcome:
    """What one example did on one broker."""

    example: str
    broker: str
    ok: bool
    problem: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def transcript(self) -> str:
        """Every process's output, for a failure message."""
        return "\n".join(f"--- {name} ---\n{out.rstrip()}" for name, out in self.outputs.items())


def _contains(step: str, *needles: str) -> Check:
    def check(outputs: dict[str, str], broker: str) -> str | None:
        out = outputs.get(step, "")
        missing = [n for n in needles if n not in out]
        return f"{step} did not print {missing!r}" if missing else None

    return check


def _all(*checks: Check) -> Check:
    def check(outputs: dict[str, str], broker: str) -> str | None:
        for one in checks:
            problem = one(outputs, broker)
            if problem:
                return problem
        return None

    return check


def _hello(outputs: dict[str, str], broker: str) -> str | None:
    sent = re.search(r"^Sent: (.+)$", outputs.get("hello_publisher", ""), re.M)
    if not sent:
        return "hello_publisher did not print 'Sent: ...'"
    expected = f"Received: {sent.group(1)}"
    if expected not in outputs.get("hello_consumer", ""):
        return f"hello_consumer did not print {expected!r}"
    return None


def _async_received(outputs: dict[str, str], broker: str) -> str | None:
    out = outputs.get("async_consume", "")
    if "message sent" not in out:
        return "async_consume did not print 'message sent'"
    # A text/plain body: Kombu 5.7 on py-amqp hands the application a str
    # (py-amqp decodes by content_encoding); its virtual transports give bytes.
    expected = "received: 'hello world'" if broker == "amqp" else "received: b'hello world'"
    if expected not in out.splitlines():
        return f"async_consume did not print {expected!r} (as Kombu 5.7 does)"
    return None


def _delayed_in_flight(outputs: dict[str, str], broker: str) -> str | None:
    try:
        count = json.loads(outputs.get("probe", "").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "the probe of the delay queues printed no count"
    if count < 1:
        return "the delayed message is in none of the delay-level queues nor in 'destination'"
    return None


_DELAY_QUEUES = tuple(f"my_prefix_celery_delayed_{level}" for level in range(28)) + ("destination",)

_PROBE_COUNT = """
import json, sys
from kombu import Connection
total = 0
with Connection(sys.argv[1]) as conn:
    channel = conn.channel()
    for name in sys.argv[2:]:
        try:
            total += channel.queue_declare(name, passive=True).message_count
        except Exception:
            channel = conn.channel()
print(json.dumps(total))
"""

_SETUP = """
import json, sys
from kombu import Connection, Exchange, Queue
spec = json.loads(sys.argv[2])
with Connection(sys.argv[1]) as conn:
    channel = conn.channel()
    for name, exchange, type_, key in spec["queues"]:
        queue = Queue(name) if exchange is None else Queue(name, Exchange(exchange, type_), key)
        queue(channel).declare()
        queue(channel).purge()
    for name in spec["purge"]:
        try:
            channel.queue_purge(name)
        except Exception:
            channel = conn.channel()
"""

EXAMPLES: dict[str, Example] = {
    ex.name: ex
    for ex in (
        Example(
            "hello",
            (Step("hello_publisher", ("hello_publisher.py",)), Step("hello_consumer", ("hello_consumer.py",))),
            _hello,
            queues=(("simple_queue", "simple_queue", "direct", "simple_queue"),),
            single_process=False,
        ),
        Example(
            "simple",
            (Step("simple_send", ("simple_send.py",)), Step("simple_receive", ("simple_receive.py",))),
            _contains("simple_receive", "{'hello': 'world'}"),
            queues=(("kombu_demo", "kombu_demo", "direct", "kombu_demo"),),
            single_process=False,
        ),
        Example(
            "complete",
            (
                Step("complete_receive", ("complete_receive.py",), background=True),
                Step("complete_send", ("complete_send.py",)),
            ),
            _contains("complete_receive", "Received message: {'hello': 'world'}"),
            queues=(("kombu_demo", "kombu_demo", "direct", "kombu_demo"),),
            single_process=False,
        ),
        Example(
            "memory_transport",
            (Step("memory_transport", ("memory_transport.py",)),),
            _contains("memory_transport", "RECEIVED MESSAGE: {'foo': 'bar'}"),
            queues=(("video", "media", "direct", "video"),),
        ),
        Example(
            "simple_task_queue",
            (
                Step("worker", ("-m", "simple_task_queue.worker"), background=True),
                Step("client", ("-m", "simple_task_queue.client")),
            ),
            _contains("worker", "Got task: hello_task('Kombu')", "Hello Kombu"),
            queues=tuple((q, "tasks", "direct", q) for q in ("hipri", "midpri", "lopri")),
            single_process=False,
        ),
        Example(
            "rpc-tut6",
            (
                Step("rpc_server", ("rpc-tut6/rpc_server.py",), background=True),
                Step("rpc_client", ("rpc-tut6/rpc_client.py",)),
            ),
            _all(
                _contains("rpc_client", " [x] Requesting fib(30)", " [.] Got 832040"),
                _contains("rpc_server", " [.] fib(30)"),
            ),
            queues=(("rpc_queue", None, "direct", "rpc_queue"),),
            single_process=False,
        ),
        Example(
            "delayed_infra",
            (Step("delayed_infra", ("delayed_infra.py",)),),
            _delayed_in_flight,
            purge=_DELAY_QUEUES,
            probe=_PROBE_COUNT,
        ),
        Example(
            "async_consume",
            (Step("async_consume", ("experimental/async_consume.py",)),),
            _async_received,
            queues=(("asynt", "asynt", "direct", "asynt"),),
        ),
    )
}


_ONE_PROCESS = "two processes never share memory:// (it lives inside one process), on Kombu 5.7 as here"
_NO_EXCHANGE_BIND = (
    "needs exchange-to-exchange bindings, which virtual transports lack (Kombu 5.7: "
    "NotImplementedError; here: CapabilityNotSupported); native delayed delivery is RabbitMQ's"
)

#: (example, broker) -> why the example does not run there on Kombu 5.7.0 (out of scope).
KOMBU57_FAILS: dict[tuple[str, str], str] = {
    **{(name, "memory"): _ONE_PROCESS for name in ("hello", "simple", "complete", "simple_task_queue", "rpc-tut6")},
    ("delayed_infra", "memory"): _NO_EXCHANGE_BIND,
    ("delayed_infra", "redis"): _NO_EXCHANGE_BIND,
    ("async_consume", "memory"): "Kombu 5.7's memory transport never delivers to a Hub-driven consumer: "
    "hub.run_forever() waits forever",
}

#: Out of scope on Kombu 5.7.0 but run here all the same: this project passes them.
BEYOND_KOMBU57: frozenset[tuple[str, str]] = frozenset({("async_consume", "memory")})

#: (example, broker) -> why it fails here while Kombu 5.7.0 passes it (strict xfail in the tests).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def in_scope(example: str, broker: str) -> bool:
    """Whether ``example`` must pass on ``broker`` here (it runs there on Kombu 5.7.0, or beyond)."""
    return (example, broker) not in KOMBU57_FAILS or (example, broker) in BEYOND_KOMBU57


class _Process:
    """A subprocess whose merged stdout/stderr is collected by a thread."""

    def __init__(self, python: Path, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [str(python), *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._chunks.append(line)

    @property
    def output(self) -> str:
        return "".join(self._chunks)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGINT (what a user's Ctrl-C sends), then SIGKILL after a grace period."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            if self.wait(STOP_GRACE) is None:
                self.popen.kill()
                self.popen.wait()
        self._reader.join(5)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "COV_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_example(example: Example, broker: str, python: Path, workdir: Path) -> Outcome:
    """Run ``example`` against ``broker`` with ``python``; ``workdir`` is its prepared examples folder."""
    started = time.monotonic()
    outcome = Outcome(example.name, broker, ok=False)
    env = _env()
    url = BROKERS[broker]
    if broker != "memory" and (example.queues or example.purge):
        setup = subprocess.run(
            [str(python), "-c", _SETUP, url, json.dumps({"queues": example.queues, "purge": example.purge})],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=example.timeout,
            check=False,
        )
        if setup.returncode:
            outcome.problem = f"declaring/purging the example's queues failed:\n{setup.stderr[-2000:]}"
            return outcome
    background: list[tuple[Step, _Process]] = []
    try:
        for step in example.steps:
            process = _Process(python, step.argv, workdir, env)
            if step.background:
                background.append((step, process))
                continue
            code = process.wait(example.timeout)
            if code is None:
                process.stop()
            outcome.outputs[step.name] = process.output
            if code != 0:
                reason = "timed out" if code is None else f"exited with status {code}"
                outcome.problem = f"{step.name} {reason}"
                return outcome
        if example.probe is not None and broker != "memory":
            probe = subprocess.run(
                [str(python), "-c", example.probe, url, *example.purge],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=example.timeout,
                check=False,
            )
            outcome.outputs["probe"] = probe.stdout + probe.stderr
        deadline = time.monotonic() + CONSUMER_WAIT
        while True:
            for step, process in background:
                outcome.outputs[step.name] = process.output
            problem = example.check(outcome.outputs, broker)
            if problem is None or time.monotonic() > deadline or not background:
                break
            if any(p.popen.poll() is not None for _, p in background):
                time.sleep(0.5)  # let the reader thread drain what the process printed last
                for step, process in background:
                    outcome.outputs[step.name] = process.output
                problem = example.check(outcome.outputs, broker)
                break
            time.sleep(0.2)
        outcome.ok = problem is None
        outcome.problem = problem or ""
        return outcome
    finally:
        for step, process in background:
            process.stop()
            outcome.outputs[step.name] = process.output
        outcome.seconds = time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "names", nargs="*", help=f"brokers ({', '.join(BROKERS)}) and/or examples ({', '.join(EXAMPLES)}); default: all"
    )
    parser.add_argument("--kombu57", action="store_true", help="run with Kombu 5.7.0 (.venv-kombu57)")
    parser.add_argument("--python", type=Path, help="the interpreter under test (default: .venv/bin/python)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every process's output")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BROKERS and n not in EXAMPLES]
    if unknown:
        parser.error(f"unknown name(s): {', '.join(unknown)}")
    brokers = [n for n in args.names if n in BROKERS] or list(BROKERS)
    examples = [n for n in args.names if n in EXAMPLES] or list(EXAMPLES)
    python = args.python or (KOMBU57 if args.kombu57 else OURS)
    source = examples_source()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="kombu57-examples-") as tmp:
        for broker in brokers:
            workdir = prepare(source, broker, Path(tmp))
            for name in examples:
                outcome = run_example(EXAMPLES[name], broker, python, workdir)
                failed += not outcome.ok
                status = "pass" if outcome.ok else "FAIL"
                if (name, broker) in KOMBU57_FAILS:
                    status += " (fails on Kombu 5.7)"
                elif (name, broker) in KNOWN_FAILURES and not args.kombu57:
                    status += " (known)"
                print(f"{name:18} {broker:7} {status:28} {outcome.seconds:5.1f}s  {outcome.problem}", flush=True)
                if args.verbose or not outcome.ok:
                    print(re.sub(r"(?m)^", "    ", outcome.transcript()), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
