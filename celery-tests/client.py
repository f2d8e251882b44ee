"""The test client: Celery calls made from the Celery venv on behalf of the tests.

Runs as ``.venv-celery/bin/python client.py`` beside a worker, reads one JSON
request per line on stdin (``{"op": name, "kw": {...}}``) and answers one JSON
line on stdout: ``{"ok": result}`` or ``{"error": "Type: message"}``. Each op
is plain Celery client code; the assertions are the tests'.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

from celery import chain, chord, group
from celery.exceptions import TaskRevokedError
from celery.result import AsyncResult
from celeryapp import add, app, late, retrying, sleeper, stamp, tsum

WAIT = 30.0


def op_delay_get() -> Any:
    return add.delay(2, 3).get(timeout=WAIT)


def op_countdown(seconds: float) -> float:
    """How long after sending the task started (seconds)."""
    sent = time.time()
    return stamp.apply_async(countdown=seconds).get(timeout=WAIT + seconds) - sent


def op_eta(seconds: float) -> float:
    """How long after its ETA the task started (seconds; negative = early)."""
    eta = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    ran = stamp.apply_async(eta=eta).get(timeout=WAIT + seconds)
    return ran - eta.timestamp()


def op_scheduled_countdown(node: str, seconds: float) -> dict[str, Any]:
    """A countdown task: what the worker holds as scheduled 1 s after sending, and when it ran."""
    sent = time.time()
    result = stamp.apply_async(countdown=seconds)
    time.sleep(1)
    scheduled = app.control.inspect(destination=[node], timeout=3).scheduled() or {}
    held = [entry["request"]["id"] for entry in scheduled.get(node, ())]
    return {"id": result.id, "held": held, "after": result.get(timeout=WAIT + seconds) - sent}


def op_expires_future() -> Any:
    return add.apply_async((20, 22), expires=60).get(timeout=WAIT)


def op_expires_elapsed() -> dict[str, Any]:
    """A task due after its expiry: Celery revokes it instead of running it."""
    result = add.apply_async((1, 1), countdown=2, expires=1)
    try:
        value = result.get(timeout=WAIT)
    except TaskRevokedError as exc:
        return {"state": result.state, "error": type(exc).__name__}
    return {"state": result.state, "value": value}


def op_retry(marker: str) -> list[float]:
    return retrying.delay(marker).get(timeout=WAIT)


def op_group() -> Any:
    return group(add.s(i, i) for i in range(6))().get(timeout=WAIT)


def op_chain() -> Any:
    return chain(add.s(1, 2), add.s(3), add.s(4))().get(timeout=WAIT)


def op_chord() -> Any:
    return chord((add.s(i, i) for i in range(5)), tsum.s())().get(timeout=WAIT)


def op_ping(node: str) -> Any:
    return app.control.inspect(destination=[node], timeout=3).ping()


def op_active(node: str, marker: str) -> dict[str, Any]:
    """Start a 4 s task, wait until it runs, and ask the worker for its active tasks."""
    result = sleeper.delay(4, marker)
    deadline = time.monotonic() + WAIT
    active: Any = None
    while time.monotonic() < deadline:
        active = app.control.inspect(destination=[node], timeout=3).active()
        if active and any(task["id"] == result.id for task in active.get(node, ())):
            break
        time.sleep(0.2)
    result.get(timeout=WAIT)
    return {"id": result.id, "active": active}


def op_rate_limit(node: str) -> Any:
    return app.control.rate_limit(add.name, "100/m", destination=[node], reply=True, timeout=3)


def op_receiver() -> dict[str, Any]:
    """Capture events with ``app.events.Receiver`` while one task runs; return the task's event types."""
    seen: list[dict[str, Any]] = []
    receivers: list[Any] = []
    ready = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        ready.set()  # events flow: on a pub/sub broker the subscription is live

    def capture() -> None:
        with app.connection_for_read() as connection:
            receiver = app.events.Receiver(connection, handlers={"*": on_event})
            receivers.append(receiver)
            receiver.capture(limit=None, timeout=None, wakeup=True)

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    # wakeup=True asks the workers for a heartbeat; wait for the first event before sending.
    assert ready.wait(WAIT), "the receiver got no event at all"
    result = add.delay(5, 5)
    value = result.get(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not any(
        event.get("type") == "task-succeeded" and event.get("uuid") == result.id for event in list(seen)
    ):
        time.sleep(0.05)
    receivers[0].should_stop = True
    thread.join(WAIT)
    types = [event["type"] for event in list(seen) if event.get("uuid") == result.id]
    return {"value": value, "types": types, "stopped": not thread.is_alive()}


def op_send(task: str, args: list[Any]) -> str:
    return {"late": late, "sleeper": sleeper, "add": add}[task].apply_async(args).id


def op_get(task_id: str, timeout: float = WAIT) -> Any:
    return AsyncResult(task_id, app=app).get(timeout=timeout)


def op_memory_worker() -> dict[str, Any]:
    """``celery.contrib.testing.worker`` on memory://: an in-process worker thread."""
    from celery.contrib.testing.worker import start_worker

    app.loader.import_module("celery.contrib.testing.tasks")
    with start_worker(app, pool="solo", perform_ping_check=True, shutdown_timeout=10):
        out: dict[str, Any] = {"delay_get": add.delay(2, 3).get(timeout=WAIT)}
        out["group"] = group(add.s(i, 1) for i in range(3))().get(timeout=WAIT)
        out["chain"] = chain(add.s(1, 1), add.s(1))().get(timeout=WAIT)
        out["countdown"] = op_countdown(1)
        out["expires_future"] = add.apply_async((1, 2), expires=60).get(timeout=WAIT)
        out["expires_elapsed"] = op_expires_elapsed()
    return out


def op_bench(rounds: int, burst: int) -> dict[str, float]:
    """Round-trip latency of ``add.delay().get()`` one at a time, then a burst sent at once and awaited."""
    from statistics import median, quantiles

    for _ in range(20):  # warm-up: connections, pools, the worker's first fork
        add.delay(1, 1).get(timeout=WAIT)
    latencies = []
    for _ in range(rounds):
        started = time.perf_counter()
        add.delay(1, 1).get(timeout=WAIT)
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    results = [add.delay(i, i) for i in range(burst)]
    published = time.perf_counter() - started
    for result in results:
        result.get(timeout=WAIT * 4)
    total = time.perf_counter() - started
    return {
        "latency_median_ms": median(latencies) * 1000,
        "latency_p90_ms": quantiles(latencies, n=10)[-1] * 1000,
        "publish_per_s": burst / published,
        "tasks_per_s": burst / total,
    }


OPS = {name[3:]: fun for name, fun in globals().items() if name.startswith("op_")}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": OPS[request["op"]](**request.get("kw", {}))}
        except Exception as exc:  # noqa: BLE001 - handed to the test, which fails with it
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer, default=repr) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
