"""One chaos scenario: N numbered messages, one fault, one target; count what arrived.

The publisher runs here (``publish(retry=True)``); the consumer is a child
process (:mod:`chaos.consumer`) recording each message before acking it.
A message is *lost* when its number was never recorded, *duplicated* when
it was recorded more than once. *Recovery* is the time from the fault to the
first message the consumer recorded that was published after it (for
``consumer-kill``: to the first message the replacement consumer recorded).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kombu import Connection, Exchange, Queue
from kombu.testing.proxy import FaultProxy

from .target import Target, wait_until

__all__ = ("Result", "run_scenario")

ROOT = Path(__file__).resolve().parents[1]

#: Bounded: about 30 s of retrying at most per publish.
RETRY_POLICY = {"max_retries": 60, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


@dataclass
class Result:
    """What one scenario measured."""

    target: str
    fault: str
    published: int
    lost: int = 0
    duplicated: int = 0
    recovery: float | None = None
    consumer_alive: bool = False
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.lost == 0 and self.consumer_alive


class _Consumer:
    """A :mod:`chaos.consumer` child process and the file it records to."""

    def __init__(self, url: str, queue: str, out: Path, target: Target, delay: float) -> None:
        self.out = out
        out.touch()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaos.consumer",
                "--url",
                url,
                "--queue",
                queue,
                "--out",
                str(out),
                "--options",
                json.dumps(target.transport_options),
                "--prefetch",
                "20",
                "--delay",
                str(delay),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def records(self) -> list[tuple[int, float]]:
        out = []
        for line in self.out.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                number, _, when = line.partition(" ")
                try:
                    out.append((int(number), float(when)))
                except ValueError:
                    continue  # a line cut short by SIGKILL
        return out

    def ready(self) -> bool:
        return "# ready" in self.out.read_text(encoding="utf-8")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def run_scenario(target: Target, fault: str, n: int, workdir: Path, timeout: float = 120.0) -> Result:
    """Run ``fault`` on ``target`` with ``n`` messages; every wait bounded by ``timeout``."""
    result = Result(target.name, fault, n)
    started = time.monotonic()
    name = f"chaos.{target.name}.{fault}.{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    proxy = FaultProxy(*target.address).start() if fault in ("tcp-cut", "idle-drop") else None
    url = target.url(proxy.address if proxy is not None else None)
    delay = 0.002 if fault == "consumer-kill" else 0.0
    consumers = [_Consumer(url, name, workdir / f"{name}.0", target, delay)]
    conn = Connection(url, connect_timeout=2, transport_options=target.transport_options)
    try:
        wait_until(consumers[0].ready, timeout, "the consumer starting")
        producer = conn.Producer()
        half = n // 2
        fault_at = 0.0
        for i in range(n):
            if i == half:
                fault_at = _inject(fault, target, workdir, proxy, consumers, url, name, half, timeout)
            producer.publish(
                i, exchange=queue.exchange, routing_key=name, declare=[queue], retry=True, retry_policy=RETRY_POLICY
            )
        conn.release()  # waits for the publishes' confirmations
        wanted = set(range(n))

        def all_in() -> bool:
            return wanted <= {number for c in consumers for number, _ in c.records()}

        try:
            wait_until(all_in, timeout, "every message arriving", interval=0.2)
        except RuntimeError:
            pass  # counted as lost below
        records = [r for c in consumers for r in c.records()]
        seen = [number for number, _ in records]
        result.lost = len(wanted - set(seen))
        result.duplicated = len(seen) - len(set(seen))
        result.consumer_alive = consumers[-1].alive
        after = consumers[-1].records() if fault == "consumer-kill" else [r for r in records if r[0] >= half]
        times = [when for _, when in after if when >= fault_at]
        result.recovery = (min(times) - fault_at) if times else None
    except Exception as exc:  # noqa: BLE001 - reported in the table
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        for consumer in consumers:
            consumer.kill(signal.SIGTERM)
        conn.release()
        if proxy is not None:
            proxy.stop()
        result.seconds = time.monotonic() - started
    return result


def _inject(
    fault: str,
    target: Target,
    workdir: Path,
    proxy: FaultProxy | None,
    consumers: list[_Consumer],
    url: str,
    name: str,
    half: int,
    timeout: float,
) -> float:
    """Make ``fault`` happen; return when it happened (``time.time()``)."""
    if fault == "server-kill":
        at = time.time()
        target.kill()
        target.start(workdir)
    elif fault == "tcp-cut":
        assert proxy is not None
        at = time.time()
        proxy.cut()
    elif fault == "idle-drop":
        assert proxy is not None

        def drained() -> bool:
            return len(consumers[0].records()) >= half

        wait_until(drained, timeout, "the consumer catching up before the idle drop")
        time.sleep(0.5)  # idle: no publish, nothing in flight
        at = time.time()
        proxy.cut()
    elif fault == "consumer-kill":

        def busy() -> bool:
            return len(consumers[0].records()) >= half // 2

        wait_until(busy, timeout, "the consumer getting busy")
        at = time.time()
        consumers[0].kill()  # SIGKILL while holding its prefetched messages
        replacement = _Consumer(url, name, workdir / f"{name}.1", target, 0.0)
        consumers.append(replacement)
    elif fault == "poison":
        at = time.time()
        target.inject_poison(name)
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return at
