"""The ``stop-mid-poll`` fault: consumers stopped while a long poll is in flight.

A fault of its own (not in :data:`chaos.target.FAULTS`): it needs a consumer
that can be stopped cleanly, and it checks the broker's side after the stop.
A target takes part by listing ``"stop-mid-poll"`` in ``extra_faults`` and
giving ``in_flight(queue)``: how many messages of ``queue`` are received and
neither deleted nor visible again (SQS's ``ApproximateNumberOfMessagesNotVisible``).

The scenario, with long polls of 5 s and a visibility timeout of 10 s, in
fifths of the numbered messages:

1. an event-loop consumer (a Hub with the transport's poller thread) takes
   the first fifth; while it waits in a long poll it is stopped cleanly
   (SIGUSR1: leave the loop, cancel, close the connection) and the second
   fifth is published as it stops, so its last poll receives messages it
   will not deliver: after it exits none may be in flight (given back at
   once, not hidden for the visibility timeout);
2. a second event-loop consumer takes the second fifth and is stopped the
   same way, the third fifth published only after it exited: a poll it left
   open on the server (Kombu #1819) would take them and hide them;
3. a blocking consumer (``ConsumerMixin``) takes the third fifth and is
   stopped as in 1 while the fourth is published;
4. a blocking consumer is SIGKILLed half-way through the fourth fifth,
   holding buffered and unacked messages: they come back after the
   visibility timeout;
5. a last consumer takes the rest. 0 lost; duplicates are counted.

    .venv/bin/python -m chaos.stop_mid_poll --targets sqs --n 300
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Queue

from .scenario import RETRY_POLICY, Result
from .target import Target, wait_until

__all__ = ("FAULT", "OPTIONS", "run_stop_mid_poll")

FAULT = "stop-mid-poll"
ROOT = Path(__file__).resolve().parents[1]
#: Long polls of 5 s, and a lease long enough that "given back at once" and
#: "came back after the visibility timeout" cannot be confused.
OPTIONS: dict[str, Any] = {"visibility_timeout": 10, "wait_time_seconds": 5}


class _Child:
    """A consumer process of this module (``--consume``) and its record file."""

    def __init__(self, url: str, queue: str, out: Path, mode: str, delay: float) -> None:
        self.out = out
        out.touch()
        options = {"url": url, "queue": queue, "out": str(out), "mode": mode, "delay": str(delay)}
        argv = [sys.executable, "-m", "chaos.stop_mid_poll", "--consume"]
        for key, value in options.items():
            argv += [f"--{key}", value]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def text(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def numbers(self) -> list[int]:
        out = []
        for line in self.text().splitlines():
            if line and not line.startswith("#"):
                try:
                    out.append(int(line.split(" ", 1)[0]))
                except ValueError:
                    continue  # a line cut short by SIGKILL
        return out

    def stop(self, sig: int, timeout: float) -> bool:
        """Send ``sig`` and wait for the exit; whether it exited by itself in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return False


def run_stop_mid_poll(target: Target, n: int, workdir: Path, timeout: float = 120.0) -> Result:
    """Run the fault on ``target`` (started) with ``n`` numbered messages."""
    result = Result(target.name, FAULT, n)
    started = time.monotonic()
    name = f"chaos.{target.name}.midpoll.{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, "direct"), routing_key=name)
    url = target.url()
    children: list[_Child] = []
    problems: list[str] = []
    conn = Connection(url, connect_timeout=2, transport_options=OPTIONS)
    producer = conn.Producer()

    def publish(numbers: range) -> None:
        for i in numbers:
            producer.publish(
                i, exchange=queue.exchange, routing_key=name, declare=[queue], retry=True, retry_policy=RETRY_POLICY
            )

    def spawn(mode: str, delay: float) -> _Child:
        child = _Child(url, name, workdir / f"{name}.{len(children)}", mode, delay)
        children.append(child)
        wait_until(lambda: "# ready" in child.text(), timeout, f"consumer {len(children)} ({mode}) starting")
        return child

    def seen() -> set[int]:
        return {number for c in children for number in c.numbers()}

    def stop_mid_poll(child: _Child, what: str, upto: int, then: range, during: bool) -> None:
        """Once ``child`` took everything (so it is in a long poll), stop it cleanly and
        publish ``then`` while it stops (``during``: its last poll receives messages it will
        not deliver) or after it exited (a poll it left open on the server would take them)."""
        wait_until(lambda: len(seen()) >= upto, timeout, f"{what} consuming")
        time.sleep(0.5)  # idle: a long poll is in flight
        child.proc.send_signal(signal.SIGUSR1)
        if during:
            time.sleep(0.3)
            publish(then)
        if not child.stop(signal.SIGUSR1, 30):
            problems.append(f"{what} did not stop on SIGUSR1")
            return
        if not during:
            publish(then)
        # Checked at once and again 2 s later (moto's long poll rescans every second).
        hidden = target.in_flight(name)  # type: ignore[attr-defined]
        time.sleep(2.0)
        hidden = max(hidden, target.in_flight(name))  # type: ignore[attr-defined]
        if hidden:
            problems.append(f"{hidden} messages still in flight after {what} stopped cleanly")

    q = n // 5
    try:
        spawn("hub", 0.0)
        publish(range(q))
        stop_mid_poll(children[-1], "an event-loop consumer", q, range(q, 2 * q), during=True)
        spawn("hub", 0.0)
        stop_mid_poll(children[-1], "an event-loop consumer", 2 * q, range(2 * q, 3 * q), during=False)
        spawn("blocking", 0.0)
        stop_mid_poll(children[-1], "the blocking consumer", 3 * q, range(3 * q, 4 * q), during=True)
        killed = spawn("blocking", 0.02)
        wait_until(lambda: len(seen()) >= 3 * q + q // 2, timeout, "the fourth consumer consuming")
        killed.stop(signal.SIGKILL, 10)  # holding buffered and unacked messages
        publish(range(4 * q, n))
        last = spawn("blocking", 0.0)
        try:
            wait_until(lambda: set(range(n)) <= seen(), timeout, "every message arriving", interval=0.2)
        except RuntimeError:
            pass  # counted as lost below
        numbers = [number for c in children for number in c.numbers()]
        result.lost = len(set(range(n)) - set(numbers))
        result.duplicated = len(numbers) - len(set(numbers))
        result.consumer_alive = last.proc.poll() is None
        if problems:
            result.error = "; ".join(problems)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        result.error = "; ".join([*problems, f"{type(exc).__name__}: {exc}"])
    finally:
        for child in children:
            child.stop(signal.SIGKILL, 10)
        conn.release()
        result.seconds = time.monotonic() - started
    return result


# -- the consumer process -------------------------------------------------------------------
def _consume(url: str, queue_name: str, out_path: str, mode: str, delay: float) -> None:
    """Consume and record (``<number> <time>`` before the ack) until SIGUSR1, then stop cleanly."""
    from kombu.mixins import ConsumerMixin

    queue = Queue(queue_name, Exchange(queue_name, "direct"), routing_key=queue_name)
    stop = threading.Event()
    out = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 - closed at the end

    def on_message(body: Any, message: Any) -> None:
        if delay:
            time.sleep(delay)  # a burst keeps the rest of its batch buffered meanwhile
        out.write(f"{body} {time.time():.4f}\n")
        out.flush()
        message.ack()

    conn = Connection(url, connect_timeout=2, transport_options=OPTIONS)
    if mode == "hub":
        from kombu.asynchronous import Hub

        hub = Hub()

        def leave(*args: Any) -> None:
            stop.set()
            hub.stop()

        signal.signal(signal.SIGUSR1, leave)
        consumer = conn.Consumer([queue], callbacks=[on_message], accept=["json"], prefetch_count=20)
        consumer.consume()
        conn.register_with_event_loop(hub)
        out.write(f"# ready {time.time():.4f}\n")
        out.flush()
        while not stop.is_set():
            hub.run_forever()
        consumer.cancel()
        conn.transport.unregister_from_event_loop(conn.connection, hub)
        hub.close()
    else:

        class Recorder(ConsumerMixin):
            def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:  # noqa: N803 - Kombu's name
                return [Consumer([queue], callbacks=[on_message], accept=["json"], prefetch_count=20)]

            def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
                out.write(f"# ready {time.time():.4f}\n")
                out.flush()

        recorder = Recorder()
        recorder.connection = conn
        signal.signal(signal.SIGUSR1, lambda *a: setattr(recorder, "should_stop", True))
        recorder.run()
    conn.release()
    out.write(f"# stopped {time.time():.4f}\n")
    out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--consume", action="store_true", help="be a consumer process (internal)")
    parser.add_argument("--url")
    parser.add_argument("--queue")
    parser.add_argument("--out")
    parser.add_argument("--mode", choices=("hub", "blocking"), default="blocking")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--targets", default="sqs")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    if args.consume:
        _consume(args.url, args.queue, args.out, args.mode, args.delay)
        return 0
    import tempfile

    from .report import format_table
    from .targets import discover

    results = []
    for name in args.targets.split(","):
        target = discover()[name]
        why = target.available()
        if why is not None or FAULT not in getattr(target, "extra_faults", ()):
            print(f"{name}: skipped ({why or 'no ' + FAULT + ' fault'})", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            target.start(Path(tmp))
            try:
                results.append(run_stop_mid_poll(target, args.n, Path(tmp)))
            finally:
                target.stop()
    print(format_table(results))
    print(json.dumps([r.__dict__ for r in results]), file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
