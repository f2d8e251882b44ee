"""At-least-once on SQS: leases held by live consumers, released at once when given
back, expired when the consumer dies; acks delete, rejects delete or dead-letter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import URL, boto_client, drain_until


@pytest.fixture
def qname() -> Iterator[str]:
    name = f"t-sqs-{uuid.uuid4().hex[:10]}"
    yield name
    client = boto_client()
    for suffix in ("", "-dlq"):
        try:
            client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name + suffix)["QueueUrl"])
        except Exception:  # noqa: BLE001 - cleanup
            pass


def _queue(name: str) -> Queue:
    return Queue(name, Exchange(name + ".x", "direct"), routing_key=name)


def _publish(q: Queue, bodies: list[Any], **opts: Any) -> None:
    with Connection(URL, transport_options=opts) as conn:
        q(conn.channel()).declare()
        producer = Producer(conn.channel(), exchange=q.exchange)
        for body in bodies:
            producer.publish(body, routing_key=q.routing_key)


def _get(q: Queue, opts: dict[str, Any], wait: float, ack: bool = True) -> list[Any]:
    """Everything another connection can receive within ``wait`` seconds."""
    got: list[Any] = []
    with Connection(URL, transport_options=opts) as conn:
        bound = q(conn.channel())
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = bound.get()
            if message is None:
                time.sleep(0.1)
                continue
            got.append((message.payload, bool(message.delivery_info.get("redelivered"))))
            if ack:
                message.ack()
    return got


def _take(bound: Queue, count: int, timeout: float = 10.0) -> list[Any]:
    """``count`` messages received (unacked) from ``bound`` by ``get``, or fewer after ``timeout``."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = bound.get()
        if message is not None:
            got.append(message)
    return got


def _api_calls(channel: Any) -> list[str]:
    """The SQS operations ``channel``'s client calls from now on, by name, in order."""
    calls: list[str] = []
    channel.sqs().meta.events.register("before-call.sqs.*", lambda model, **kw: calls.append(model.name))
    return calls


def _visible(name: str) -> int:
    client = boto_client()
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def test_slow_consumer_keeps_its_lease(qname: str) -> None:
    """A message held 3x longer than the visibility timeout is not handed to anyone else."""
    opts = {"visibility_timeout": 2, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, ["slow"], **opts)
    with Connection(URL, transport_options=opts) as conn:
        got: list[Any] = []
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(m)]):
            drain_until(conn, lambda: bool(got), 10)
            assert [m.payload for m in got] == ["slow"]
            # The application works on it (no drain_events) for 6 s.
            assert _get(q, opts, wait=6.0) == [], "a held message was handed to a second consumer"
            got[0].ack()
    assert _get(q, opts, wait=3.0) == [], "an acked message came back"


HOLDER = r"""
import sys, time
from kombu import Connection, Consumer, Exchange, Queue
url, name, opts = sys.argv[1], sys.argv[2], eval(sys.argv[3])
q = Queue(name, Exchange(name + ".x", "direct"), routing_key=name)
with Connection(url, transport_options=opts) as conn:
    got = []
    with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(b)]):
        while not got:
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                pass
        print("HOLDING", got[0], flush=True)
        time.sleep(60)
"""


def test_sigkilled_consumer_message_returns_after_visibility_timeout(qname: str) -> None:
    opts = {"visibility_timeout": 2, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, ["precious"], **opts)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, URL, qname, repr(opts)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "HOLDING precious", line
        # Alive and holding: the lease keeper keeps it hidden past the timeout.
        assert _get(q, opts, wait=3.5, ack=False) == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        got = _get(q, opts, wait=12.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert got == [("precious", True)]


def test_requeue_makes_the_message_visible_at_once(qname: str) -> None:
    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, ["again"], **opts)
    with Connection(URL, transport_options=opts) as conn:
        message = q(conn.channel()).get()
        assert message is not None
        message.requeue()
        # Well within the 60 s visibility timeout: it was given back, not left to expire.
        assert _get(q, opts, wait=10.0)[:1] == [("again", True)]


def test_reject_without_requeue_deletes(qname: str) -> None:
    opts = {"visibility_timeout": 1, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, ["bad"], **opts)
    with Connection(URL, transport_options=opts) as conn:
        message = q(conn.channel()).get()
        assert message is not None and message.payload == "bad"
        message.reject()
    assert _get(q, opts, wait=3.0) == []


def test_reject_without_requeue_dead_letters_through_the_redrive_policy(qname: str) -> None:
    client = boto_client()
    dlq_url = client.create_queue(QueueName=qname + "-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    opts = {"visibility_timeout": 1, "wait_time_seconds": 1, "sqs-creation-attributes": {"RedrivePolicy": redrive}}
    q = _queue(qname)
    _publish(q, ["poison"], **opts)
    with Connection(URL, transport_options=opts) as conn:
        message = q(conn.channel()).get()
        assert message is not None
        message.reject()
    assert _get(q, opts, wait=3.0) == []  # receiving it again moves it to the DLQ
    records: list[Any] = []
    deadline = time.monotonic() + 10
    while not records and time.monotonic() < deadline:
        records = client.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages") or []
    assert len(records) == 1, "the rejected message was not dead-lettered"


def test_cancelled_consumer_gives_back_received_messages_at_once(qname: str) -> None:
    """Messages received by a poll but not yet delivered are released on cancel (Kombu #1819)."""
    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, [1, 2, 3], **opts)
    with Connection(URL, transport_options=opts) as conn:
        channel = conn.channel()
        consumer = Consumer(channel, [q], callbacks=[lambda b, m: None])
        consumer.consume()
        deadline = time.monotonic() + 10
        while len(channel._buffer) < 3 and time.monotonic() < deadline:
            channel.fetch(qname, 1)  # what a poll does before delivering
        assert len(channel._buffer) == 3
        consumer.cancel()
        assert not channel._buffer
        assert sorted(b for b, _ in _get(q, opts, wait=5.0)) == [1, 2, 3]


def test_closing_gives_back_unacked_and_deletes_acked(qname: str) -> None:
    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, list(range(6)), **opts)
    with Connection(URL, transport_options=opts) as conn:
        got: list[Any] = []
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(m)]):
            drain_until(conn, lambda: len(got) >= 6, 10)
            for m in got:
                if m.payload % 2:
                    m.ack()
    assert sorted(b for b, _ in _get(q, opts, wait=4.0)) == [0, 2, 4]


def test_acks_are_batched_and_urls_cached(qname: str) -> None:
    """30 messages cost a few ReceiveMessage and DeleteMessageBatch calls, no URL lookups."""
    opts = {"visibility_timeout": 30, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, list(range(30)), **opts)
    with Connection(URL, transport_options=opts) as conn:
        channel = conn.channel()
        calls = _api_calls(channel)
        got: list[Any] = []
        with Consumer(channel, [q], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            drain_until(conn, lambda: len(got) >= 30, 15)
    assert sorted(got) == list(range(30))
    assert calls.count("GetQueueUrl") <= 1
    assert calls.count("DeleteMessage") == 0
    assert 3 <= calls.count("DeleteMessageBatch") <= 8, calls
    assert calls.count("ReceiveMessage") <= 12, calls
    assert _visible(qname) == 0


@pytest.mark.parametrize("requeue", [False, True], ids=["reject", "requeue"])
def test_backoff_policy_of_a_predefined_queue(qname: str, requeue: bool) -> None:
    """Kombu 5.7's backoff_policy: a rejected task comes back after the policy's delay,
    with or without requeue; another task is requeued at once or deleted."""
    client = boto_client()
    url = client.create_queue(QueueName=qname, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    opts = {
        "wait_time_seconds": 1,
        "predefined_queues": {qname: {"url": url, "backoff_tasks": ["tasks.example"], "backoff_policy": {1: 2, 2: 4}}},
    }
    q = Queue(qname, routing_key=qname)
    with Connection(URL, transport_options=opts) as conn:
        producer = Producer(conn.channel())
        producer.publish("task", routing_key=qname, headers={"task": "tasks.example"})
        producer.publish("other", routing_key=qname, headers={"task": "tasks.other"})
        got = _take(q(conn.channel()), 2)
        assert sorted(m.payload for m in got) == ["other", "task"]
        for message in got:
            message.reject(requeue=requeue)
    early = _get(q, opts, wait=1.0)
    assert "task" not in [b for b, _ in early], "the backoff delay was not applied"
    assert early == ([("other", True)] if requeue else []), "'other' was not requeued at once (or not deleted)"
    # Back after the policy's 2 s, well before the queue's 60 s visibility timeout.
    assert _get(q, opts, wait=8.0) == [("task", True)], "the task did not come back (or 'other' did)"


def test_hub_consumes_within_prefetch_and_loses_nothing_on_cancel(qname: str) -> None:
    """The event loop (poller thread + wake-up pipe) delivers within the prefetch window
    (5 unacked stop it), and after a cancel every message is still had exactly once."""
    from kombu.asynchronous import Hub

    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, list(range(30)), **opts)
    hub = Hub()
    got: list[Any] = []
    held: list[Any] = []
    with Connection(URL, transport_options=opts) as conn:

        def on_message(body: Any, message: Any) -> None:
            if len(got) < 20:
                got.append(body)
                message.ack()
            else:
                held.append(message)  # not acked: the prefetch window fills up
                if len(held) == 5:
                    hub.stop()

        consumer = Consumer(conn.channel(), [q], callbacks=[on_message], prefetch_count=5)
        consumer.consume()
        conn.register_with_event_loop(hub)
        timeout = hub.call_later(30, hub.stop)
        try:
            hub.run_forever()
        finally:
            timeout.cancel()
        assert len(got) == 20 and len(held) == 5
        consumer.cancel()
        conn.transport.unregister_from_event_loop(conn.connection, hub)
        hub.close()
        # 5 held (unacked, still leased); the other 5 are ready well before the 60 s timeout.
        rest = _get(q, opts, wait=5.0)
        for message in held:
            message.ack()
    assert sorted(got + [m.payload for m in held] + [b for b, _ in rest]) == list(range(30))


def test_close_releases_every_unacked_message_in_batches(qname: str) -> None:
    """12 unacked messages go back at close in two ChangeMessageVisibilityBatch calls, at once."""
    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, list(range(12)), **opts)
    with Connection(URL, transport_options=opts) as conn:
        channel = conn.channel()
        assert sorted(m.payload for m in _take(q(channel), 12)) == list(range(12))
        calls = _api_calls(channel)
        channel.close()
    assert calls.count("ChangeMessageVisibilityBatch") == 2, calls
    assert calls.count("DeleteMessageBatch") == 0, calls
    assert sorted(b for b, _ in _get(q, opts, wait=4.0)) == list(range(12))


def test_a_released_no_ack_message_comes_back_as_a_redelivered_copy(qname: str) -> None:
    """basic_get(no_ack=True) deletes the message; giving it back (a message this channel
    no longer holds) sends a copy, marked redelivered."""
    opts = {"visibility_timeout": 1, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, ["once"], **opts)
    with Connection(URL, transport_options=opts) as conn:
        channel = conn.channel()
        message = q(channel).get(no_ack=True)
        assert message is not None and message.payload == "once"
        assert _get(q, opts, wait=2.5) == [], "a no_ack message was not deleted"
        channel._release_deliveries([message], rejected=False)
    assert _get(q, opts, wait=3.0) == [("once", True)]


def test_ack_multiple_deletes_every_delivery_up_to_the_tag_in_one_batch(qname: str) -> None:
    """``basic_ack(tag, multiple=True)`` settles the first four in one call; the fifth stays held."""
    opts = {"visibility_timeout": 60, "wait_time_seconds": 1}
    q = _queue(qname)
    _publish(q, list(range(5)), **opts)
    with Connection(URL, transport_options=opts) as conn:
        channel = conn.channel()
        got = _take(q(channel), 5)
        assert len(got) == 5
        calls = _api_calls(channel)
        channel.basic_ack(got[3].delivery_tag, multiple=True)
        assert calls.count("DeleteMessageBatch") == 1 and "DeleteMessage" not in calls, calls
    # The fifth was not acked: closing gave it back at once.
    assert _get(q, opts, wait=4.0) == [(got[4].payload, True)]
