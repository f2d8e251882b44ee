"""The Celery application of the end-to-end tests: plain Celery 5.7 code, nothing project-specific.

Workers (``celery -A celeryapp worker``), beat and the test client import it
from the Celery venv. The environment chooses the broker and backend:

- ``CT_BROKER``, ``CT_BACKEND``: broker and result backend URLs;
- ``CT_QUEUE``: the task queue (a fresh name per test run);
- ``CT_DIR``: a scratch folder where tasks leave marker files;
- ``CT_BEAT``: when set, beat sends ``celeryapp.beat_tick`` every second;
- ``CT_QUORUM``: when set, the task queue is a RabbitMQ quorum queue on a
  topic exchange, so Celery delays countdown/ETA tasks with native delayed
  delivery (``kombu.transport.native_delayed_delivery``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

QUEUE = os.environ.get("CT_QUEUE", "celery")
SCRATCH = Path(os.environ.get("CT_DIR", "/tmp"))

app = Celery("celeryapp", broker=os.environ.get("CT_BROKER", "memory://"), backend=os.environ.get("CT_BACKEND") or None)
app.conf.update(
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    result_expires=600,
    broker_connection_retry_on_startup=True,
    # Redis redelivers an unacked message of a dead worker once it is this old (visibility_timeout),
    # looking every 2 s (Kombu 5.7 looks only every interval * throttle seconds: 100 s by default).
    broker_transport_options={"visibility_timeout": 8, "unacked_restore_interval": 2, "unacked_restore_throttle": 1},
    result_backend_transport_options={"visibility_timeout": 8},
    worker_prefetch_multiplier=1,
    task_send_sent_event=True,
    worker_send_task_events=True,
    event_queue_ttl=60.0,
    event_queue_expires=120.0,
)
if os.environ.get("CT_QUORUM"):
    app.conf.task_queues = [
        Queue(QUEUE, Exchange(QUEUE, type="topic"), routing_key=QUEUE, queue_arguments={"x-queue-type": "quorum"})
    ]
if os.environ.get("CT_BEAT"):
    app.conf.beat_schedule = {"tick": {"task": "celeryapp.beat_tick", "schedule": 1.0}}


def _append(name: str, line: str) -> None:
    with open(SCRATCH / name, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def tsum(values: list[int]) -> int:
    return sum(values)


@app.task
def stamp() -> float:
    """When the task ran (wall clock: worker and client share the machine)."""
    return time.time()


@app.task
def sleeper(seconds: float, marker: str | None = None) -> float:
    if marker:
        _append(marker, str(os.getpid()))
    time.sleep(seconds)
    return seconds


@app.task(acks_late=True)
def late(marker: str, seconds: float) -> str:
    """Runs long the first time; a redelivered copy finds the marker and returns at once."""
    first = not (SCRATCH / marker).exists()
    _append(marker, str(os.getpid()))
    if first:
        time.sleep(seconds)
        return "first"
    return "redelivered"


@app.task(bind=True, max_retries=3)
def retrying(self, marker: str) -> list[float]:
    """Retries once with countdown=1; returns the wall-clock times of both attempts."""
    _append(marker, repr(time.time()))
    if self.request.retries < 1:
        raise self.retry(countdown=1)
    return [float(line) for line in (SCRATCH / marker).read_text().split()]


@app.task
def beat_tick() -> None:
    _append("beat", repr(time.time()))
