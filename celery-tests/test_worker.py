"""A real Celery 5.7.0 worker (prefork, concurrency 2) on this project, per broker and backend.

What issue 10 lists as "done": calls and results, countdown/ETA timing,
expiry, retries, canvas, remote control, events, beat, and no task lost when
a worker is killed (acks_late) or told to stop (SIGTERM) with tasks in
flight. Every check here also passes on the real Kombu 5.7.0 (chords on
rpc:// excepted: a Celery limit).
"""

from __future__ import annotations

import signal
import time

import pytest

# Lateness allowed for countdown/ETA tasks (issue 10: "within 0.5 s of the due time").
ON_TIME = 0.5


def test_delay_get(stack):
    assert stack.client.call("delay_get") == 5


def test_countdown_runs_on_time(stack):
    after = stack.client.call("countdown", seconds=2)
    assert 2 - 0.05 <= after <= 2 + ON_TIME, f"countdown=2 ran after {after:.3f} s"


def test_eta_runs_on_time(stack):
    late_by = stack.client.call("eta", seconds=2)
    assert -0.05 <= late_by <= ON_TIME, f"ran {late_by:+.3f} s from its ETA"


def test_expires_in_the_future_runs(stack):
    assert stack.client.call("expires_future") == 42


def test_expired_task_is_revoked(stack):
    outcome = stack.client.call("expires_elapsed")
    assert outcome == {"state": "REVOKED", "error": "TaskRevokedError"}


def test_retry_with_countdown(stack, marker):
    first, second = stack.client.call("retry", marker=marker)
    assert 1 - 0.05 <= second - first <= 1 + ON_TIME + 1, f"retried after {second - first:.3f} s"


def test_group(stack):
    assert stack.client.call("group") == [0, 2, 4, 6, 8, 10]


def test_chain(stack):
    assert stack.client.call("chain") == 10


def test_chord(stack):
    if stack.backend.startswith("rpc"):
        # Celery's own limit, the same on Kombu 5.7.0: the rpc:// backend refuses chords.
        with pytest.raises(AssertionError, match="does not support chords"):
            stack.client.call("chord")
        return
    assert stack.client.call("chord") == 20


def test_inspect_ping(stack):
    assert stack.client.call("ping", node=stack.node) == {stack.node: {"ok": "pong"}}


def test_inspect_active(stack, marker):
    out = stack.client.call("active", node=stack.node, marker=marker)
    active = out["active"][stack.node]
    assert [task["name"] for task in active if task["id"] == out["id"]] == ["celeryapp.sleeper"]


def test_control_rate_limit(stack):
    replies = stack.client.call("rate_limit", node=stack.node)
    assert replies == [{stack.node: {"ok": "new rate limit set successfully"}}]


def test_celery_status_command(stack):
    done = stack.celery("status", "--timeout", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{stack.node}: OK" in done.stdout


def test_celery_events_dump_command(stack):
    dump = stack.spawn("events", "--dump", log="events-dump.log")
    try:
        dump.wait_for("starting capture", timeout=30)
        time.sleep(2)  # the dump's queue is bound before the task is sent
        task_id = stack.client.call("send", task="add", args=[3, 4])
        assert stack.client.call("get", task_id=task_id) == 7
        dump.wait_for(f"task succeeded: celeryapp.add({task_id})", timeout=30)
    finally:
        dump.stop()


def test_events_receiver(stack):
    out = stack.client.call("receiver")
    assert out["value"] == 10 and out["stopped"]
    for kind in ("task-sent", "task-received", "task-started", "task-succeeded"):
        assert kind in out["types"], out["types"]


def test_beat_sends_a_periodic_task(stack):
    beat_log = stack.scratch / "beat"
    beat_log.unlink(missing_ok=True)
    beat = stack.spawn(
        "beat",
        "-s",
        str(stack.scratch / "beat-schedule"),
        "--max-interval",
        "1",
        "-l",
        "info",
        log="beat.log",
        extra_env={"CT_BEAT": "1"},
    )
    try:
        deadline = time.monotonic() + 45
        ticks: list[str] = []
        while time.monotonic() < deadline and len(ticks) < 2:
            time.sleep(0.25)
            ticks = beat_log.read_text().split() if beat_log.exists() else []
        assert len(ticks) >= 2, f"beat ran {len(ticks)} ticks:\n{(stack.scratch / 'beat.log').read_text()}"
    finally:
        beat.stop()


# The last two tests restart the worker: keep them at the end of the module.


def test_acks_late_task_of_a_killed_worker_is_redelivered(stack, marker):
    task_id = stack.client.call("send", task="late", args=[marker, 60])
    started = stack.scratch / marker
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists(), "the acks_late task never started"
    stack.worker.signal(signal.SIGKILL, group=True)
    stack.worker.popen.wait(10)
    stack.start_worker()
    # redis redelivers after visibility_timeout (8 s in celeryapp); RabbitMQ at once.
    assert stack.client.call("get", task_id=task_id, timeout=60) == "redelivered"
    assert len(started.read_text().split()) == 2


def test_sigterm_with_tasks_in_flight_loses_none(stack, marker):
    ids = [stack.client.call("send", task="sleeper", args=[1.5, marker]) for _ in range(6)]
    started = stack.scratch / marker
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.exists(), "no task started"
    stack.worker.signal(signal.SIGTERM)
    assert stack.worker.popen.wait(60) == 0
    stack.start_worker()
    assert [stack.client.call("get", task_id=task_id, timeout=60) for task_id in ids] == [1.5] * 6


def test_sigterm_with_acks_late_tasks_in_flight_loses_none(stack, marker):
    """acks_late tasks running at SIGTERM finish; queued ones run on the next worker; every one has its result.

    At least once, not exactly once: an ack made while the pool joins can miss the closing
    connection, and the task then runs again on the next worker (Kombu 5.7.0 does the same).
    """
    markers = [f"{marker}-{i}" for i in range(4)]
    ids = [stack.client.call("send", task="late", args=[name, 1.5]) for name in markers]
    deadline = time.monotonic() + 30
    while not (stack.scratch / markers[0]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (stack.scratch / markers[0]).exists(), "no task started"
    stack.worker.signal(signal.SIGTERM)
    assert stack.worker.popen.wait(60) == 0
    stack.start_worker()
    results = [stack.client.call("get", task_id=task_id, timeout=60) for task_id in ids]
    assert set(results) <= {"first", "redelivered"} and len(results) == 4
    assert all((stack.scratch / name).exists() for name in markers)
