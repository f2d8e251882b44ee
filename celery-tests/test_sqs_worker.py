"""A real Celery 5.7.0 worker (prefork, concurrency 2) on sqs:// (moto), results in Redis.

Calls and results, countdown timing, and acks_late tasks after a SIGKILL: of the
whole worker (the message comes back after the visibility timeout, 8 s in
celeryapp, and runs again) and of the pool child running it (Celery's default,
``task_reject_on_worker_lost=False``, acks it and records ``WorkerLostError``,
as on Kombu 5.7.0). Events and remote control (fanout) are not used: Celery
does not support them on SQS.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

ON_TIME = 0.5


def _wait_for(path: os.PathLike[str], lines: int = 1, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = open(path, encoding="utf-8").read().split()
        except OSError:
            got = []
        if len(got) >= lines:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{path}: fewer than {lines} lines after {timeout} s")


def test_delay_get(sqs_stack) -> None:
    assert sqs_stack.client.call("delay_get") == 5


def test_countdown_runs_on_time(sqs_stack) -> None:
    after = sqs_stack.client.call("countdown", seconds=2)
    assert 2 - 0.05 <= after <= 2 + ON_TIME, f"countdown=2 ran after {after:.3f} s"


def test_group(sqs_stack) -> None:
    assert sqs_stack.client.call("group") == [0, 2, 4, 6, 8, 10]


def test_acks_late_task_of_a_killed_pool_child_is_a_worker_lost_error(sqs_stack, marker: str) -> None:
    task_id = sqs_stack.client.call("send", task="late", args=[marker, 60])
    (child_pid,) = _wait_for(sqs_stack.scratch / marker)
    os.kill(int(child_pid), signal.SIGKILL)
    with pytest.raises(AssertionError, match="WorkerLostError"):
        sqs_stack.client.call("get", task_id=task_id, timeout=60)
    # The worker replaced its child and still serves.
    assert sqs_stack.client.call("delay_get") == 5


# Restarts the worker: keep it last.
def test_acks_late_task_of_a_killed_worker_is_redelivered(sqs_stack, marker: str) -> None:
    task_id = sqs_stack.client.call("send", task="late", args=[marker, 60])
    _wait_for(sqs_stack.scratch / marker)
    assert sqs_stack.worker is not None
    sqs_stack.worker.signal(signal.SIGKILL, group=True)
    sqs_stack.worker.popen.wait(10)
    sqs_stack.start_worker()
    # Back after the visibility timeout (8 s in celeryapp), run again by the new worker.
    assert sqs_stack.client.call("get", task_id=task_id, timeout=60) == "redelivered"
    assert len((sqs_stack.scratch / marker).read_text().split()) == 2
