"""What the beanstalk transport promises beyond the kit: jobs, tubes, priorities, delays."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any
from uuid import uuid4

import pytest
from kombu import Connection, Consumer, Exchange, Queue

from .conftest import HOST, PORT

pytestmark = pytest.mark.usefixtures("beanstalkd")


def fresh(label: str = "q") -> str:
    return f"bst.{uuid4().hex[:10]}.{label}"


@pytest.fixture()
def conn(beanstalkd: str) -> Any:
    with Connection(beanstalkd, transport_options={"visibility_timeout": 5}) as connection:
        connection.connect()
        yield connection


def declared(conn: Any, name: str | None = None, **kwargs: Any) -> Queue:
    name = name or fresh()
    queue = Queue(name, Exchange(name, "direct"), routing_key=name, **kwargs)
    queue(conn.default_channel).declare()
    return queue


def cleanup(conn: Any, *queues: Queue) -> None:
    for queue in queues:
        queue(conn.default_channel).delete()


def settled(conn: Any, queue: Queue) -> int:
    """A synchronous command on the publishing channel: every put before it is confirmed."""
    return int(queue(conn.default_channel).queue_declare(passive=True).message_count)


def tube_stats(raw: Any, queue: str) -> dict[str, Any]:
    from kombu_transport_beanstalk.names import tube_for

    return dict(raw.stats_tube(tube_for(queue)))


# -- tube names --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["celery", "kit.1a2b.q", "a-b_c+d/e;f$g(h)", "celery@host.celery.pidbox", "ünïcode:queue name", "-leading", "$24"],
)
def test_queue_names_map_to_tubes_and_back(name: str) -> None:
    import re

    from kombu_transport_beanstalk.names import queue_for, tube_for

    tube = tube_for(name)
    assert re.fullmatch(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]*", tube), tube
    assert queue_for(tube) == name


def test_plain_names_are_their_own_tube() -> None:
    from kombu_transport_beanstalk.names import tube_for

    assert tube_for("celery") == "celery"
    assert tube_for("video-tasks.high") == "video-tasks.high"


@pytest.mark.parametrize("name", ["x" * 201, "@" * 70])
def test_unmappable_names_are_a_clear_error(name: str, conn: Any) -> None:
    from kombu_transport_beanstalk.names import InvalidQueueName

    with pytest.raises(InvalidQueueName):
        Queue(name, Exchange("bst-x", "direct"), "k")(conn.default_channel).declare()
    assert issubclass(InvalidQueueName, ValueError)
    assert InvalidQueueName in conn.channel_errors


def test_queue_with_escaped_name_round_trips(conn: Any, raw: Any) -> None:
    queue = declared(conn, fresh("worker@host:1"))
    try:
        conn.Producer().publish({"x": 1}, exchange=queue.exchange, routing_key=queue.routing_key)
        assert settled(conn, queue) == 1
        assert tube_stats(raw, queue.name)["current-jobs-ready"] == 1
        message = queue(conn.default_channel).get()
        assert message is not None and message.payload == {"x": 1}
        assert message.delivery_info["routing_key"] == queue.name
        message.ack()
    finally:
        cleanup(conn, queue)


# -- jobs and leases ---------------------------------------------------------------------
def test_delivery_reserves_and_ack_deletes(conn: Any, raw: Any) -> None:
    queue = declared(conn)
    try:
        conn.Producer().publish("job", exchange=queue.exchange, routing_key=queue.routing_key)
        message = queue(conn.default_channel).get()
        stats = tube_stats(raw, queue.name)
        assert (stats["current-jobs-ready"], stats["current-jobs-reserved"]) == (0, 1)
        assert queue(conn.default_channel).queue_declare(passive=True).message_count == 0
        message.ack()
        stats = tube_stats(raw, queue.name)
        assert (stats["current-jobs-ready"], stats["current-jobs-reserved"]) == (0, 0)
        assert stats["cmd-delete"] >= 1
    finally:
        cleanup(conn, queue)


def test_requeue_releases_to_the_head_of_its_priority(conn: Any) -> None:
    queue = declared(conn)
    try:
        producer = conn.Producer()
        for body in ("a", "b", "c"):
            producer.publish(body, exchange=queue.exchange, routing_key=queue.routing_key)
        bound = queue(conn.default_channel)
        first = bound.get()
        assert first.payload == "a"
        first.requeue()
        order = []
        while (message := bound.get()) is not None:
            order.append(message.payload)
            message.ack()
        assert order == ["a", "b", "c"]
    finally:
        cleanup(conn, queue)


def test_reject_without_requeue_deletes(conn: Any, raw: Any) -> None:
    queue = declared(conn)
    try:
        conn.Producer().publish("bad", exchange=queue.exchange, routing_key=queue.routing_key)
        queue(conn.default_channel).get().reject()
        stats = tube_stats(raw, queue.name)
        assert sum(stats[f"current-jobs-{s}"] for s in ("ready", "reserved", "delayed", "buried")) == 0
    finally:
        cleanup(conn, queue)


def test_reject_buries_when_the_queue_keeps_rejected(conn: Any, raw: Any) -> None:
    from kombu_transport_beanstalk.channel import BURY_REJECTED_ARGUMENT

    queue = declared(conn, queue_arguments={BURY_REJECTED_ARGUMENT: True})
    try:
        conn.Producer().publish("keep me", exchange=queue.exchange, routing_key=queue.routing_key)
        queue(conn.default_channel).get().reject()
        stats = tube_stats(raw, queue.name)
        assert (stats["current-jobs-buried"], stats["current-jobs-ready"]) == (1, 0)
        assert queue(conn.default_channel).get() is None
        assert queue(conn.default_channel).purge() == 1  # purge deletes buried jobs too
        assert tube_stats(raw, queue.name)["current-jobs-buried"] == 0
    finally:
        cleanup(conn, queue)


def test_lease_is_extended_for_a_slow_consumer(beanstalkd: str) -> None:
    """A consumer busy for three TTRs without draining keeps its job: nobody else gets it."""
    options = {"visibility_timeout": 2}
    with (
        Connection(beanstalkd, transport_options=options) as slow,
        Connection(beanstalkd, transport_options=options) as other,
    ):
        queue = declared(slow)
        try:
            slow.Producer().publish("long task", exchange=queue.exchange, routing_key=queue.routing_key)
            got: list[Any] = []
            with Consumer(slow.default_channel, [queue], callbacks=[lambda b, m: got.append(m)]):
                slow.drain_events(timeout=5)
                assert len(got) == 1
                deadline = time.monotonic() + 6.5  # > 3 TTRs, the application is busy
                while time.monotonic() < deadline:
                    assert queue(other.default_channel).get() is None, "a live consumer's job was taken"
                    time.sleep(0.5)
                got[0].ack()
            assert queue(other.default_channel).get() is None
        finally:
            cleanup(slow, queue)


def test_closed_consumer_jobs_are_released_at_once(beanstalkd: str) -> None:
    with Connection(beanstalkd, transport_options={"visibility_timeout": 600}) as first:
        queue = declared(first)
        try:
            first.Producer().publish("held", exchange=queue.exchange, routing_key=queue.routing_key)
            assert queue(first.default_channel).get().payload == "held"
            first.release()  # never acked
            with Connection(beanstalkd) as second:
                message = queue(second.default_channel).get()
                assert message is not None and message.payload == "held"  # well before the TTR
                message.ack()
        finally:
            with Connection(beanstalkd) as c:
                cleanup(c, queue)


CONSUMER = r"""
import sys, time
from kombu import Connection, Consumer, Exchange, Queue
name = sys.argv[2]
queue = Queue(name, Exchange(name, "direct"), routing_key=name)
held = []
with Connection(sys.argv[1], transport_options={"visibility_timeout": 600}) as conn:
    with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: held.append(b)],
                  prefetch_count=int(sys.argv[3])):
        while len(held) < int(sys.argv[3]):
            conn.drain_events(timeout=10)
        print("held", len(held), flush=True)
        time.sleep(120)
"""


def test_sigkilled_consumer_jobs_come_back(beanstalkd: str) -> None:
    """A consumer killed with SIGKILL while holding 3 reserved jobs: all 3 come back, long before TTR."""
    with Connection(beanstalkd) as conn:
        queue = declared(conn)
        try:
            for i in range(5):
                conn.Producer().publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
            child = subprocess.Popen(
                [sys.executable, "-c", CONSUMER, beanstalkd, queue.name, "3"], stdout=subprocess.PIPE, text=True
            )
            try:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "held 3"
            finally:
                child.kill()
                child.wait(10)
            got: list[int] = []
            deadline = time.monotonic() + 20
            bound = queue(conn.default_channel)
            while len(got) < 5 and time.monotonic() < deadline:
                message = bound.get()
                if message is None:
                    time.sleep(0.1)
                    continue
                got.append(message.payload)
                message.ack()
            assert sorted(got) == [0, 1, 2, 3, 4]
        finally:
            cleanup(conn, queue)


# -- priorities and delays ---------------------------------------------------------------
def test_amqp_priority_maps_to_beanstalkd_priority(conn: Any, raw: Any) -> None:
    from kombu_transport_beanstalk.names import tube_for
    from kombu_transport_beanstalk.protocol import PRIORITY_BASE

    queue = declared(conn, max_priority=255)
    try:
        producer = conn.Producer()
        for priority in (0, 9, 255):
            producer.publish(priority, exchange=queue.exchange, routing_key=queue.routing_key, priority=priority)
        assert settled(conn, queue) == 3
        raw.use(tube_for(queue.name))
        job = raw.peek_ready()
        assert raw.stats_job(job)["pri"] == PRIORITY_BASE - 255
        got = []
        bound = queue(conn.default_channel)
        while (message := bound.get()) is not None:
            got.append(message.payload)
            message.ack()
        assert got == [255, 9, 0]
    finally:
        cleanup(conn, queue)


def test_delayed_delivery(conn: Any, raw: Any) -> None:
    queue = declared(conn)
    try:
        producer = conn.Producer()
        producer.publish("later", exchange=queue.exchange, routing_key=queue.routing_key, delay=2)
        producer.publish("now", exchange=queue.exchange, routing_key=queue.routing_key)
        assert settled(conn, queue) == 2  # ready + delayed
        stats = tube_stats(raw, queue.name)
        assert (stats["current-jobs-delayed"], stats["current-jobs-ready"]) == (1, 1)
        bound = queue(conn.default_channel)
        first = bound.get()
        assert first.payload == "now"
        first.ack()
        assert bound.get() is None
        deadline = time.monotonic() + 10
        later = None
        while later is None and time.monotonic() < deadline:
            later = bound.get()
            time.sleep(0.1)
        assert later is not None and later.payload == "later"
        later.ack()
    finally:
        cleanup(conn, queue)


# -- other clients' jobs, limits ---------------------------------------------------------
def test_job_from_another_client_is_delivered_raw(conn: Any, raw: Any) -> None:
    from kombu_transport_beanstalk.names import tube_for

    queue = declared(conn)
    try:
        raw.use(tube_for(queue.name))
        raw.put(b"\x00plain beanstalk job\xff")
        message = queue(conn.default_channel).get()
        assert message is not None
        assert message.content_type == "application/data"
        assert message.body == b"\x00plain beanstalk job\xff"
        message.ack()
        assert tube_stats(raw, queue.name)["current-jobs-reserved"] == 0
    finally:
        cleanup(conn, queue)


def test_too_big_message_is_a_typed_error(private_beanstalkd: Any) -> None:
    from kombu_transport_beanstalk.link import JobTooBig

    from .server import MAX_JOB_SIZE

    with Connection(private_beanstalkd.url) as conn:
        queue = declared(conn)
        with pytest.raises(JobTooBig, match="max-job-size"):
            conn.Producer().publish("x" * (MAX_JOB_SIZE + 10), exchange=queue.exchange, routing_key=queue.routing_key)
        assert JobTooBig in conn.channel_errors
        conn.Producer().publish("fits", exchange=queue.exchange, routing_key=queue.routing_key)
        assert queue(conn.default_channel).get().payload == "fits"
        cleanup(conn, queue)


def test_connection_error_is_typed() -> None:
    from .server import free_port

    conn = Connection(f"beanstalk://127.0.0.1:{free_port()}", connect_timeout=2)
    with pytest.raises(conn.connection_errors):
        conn.connect()


# -- packaging ---------------------------------------------------------------------------
def test_plugin_does_not_import_the_client_library() -> None:
    code = (
        "import sys, kombu, kombu_transport_beanstalk.plugin; from kombu import Connection; "
        "Connection('beanstalk://localhost').transport_cls; "
        "sys.exit(1 if 'greenstalk' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_ships_py_typed() -> None:
    from importlib.resources import files

    assert files("kombu_transport_beanstalk").joinpath("py.typed").is_file()


def test_kombu_module_path_and_scheme() -> None:
    import kombu.transport.beanstalk as legacy
    from kombu_transport_beanstalk import transport

    assert legacy.Transport is transport.Transport
    assert Connection(f"beanstalk://{HOST}:{PORT}").get_transport_cls() is transport.Transport


def test_forked_child_leaves_the_parents_jobs_alone(conn: Any, raw: Any) -> None:
    """A child forked while the parent holds a job neither acks nor releases it."""
    import os

    queue = declared(conn)
    try:
        conn.Producer().publish("parent's", exchange=queue.exchange, routing_key=queue.routing_key)
        message = queue(conn.default_channel).get()
        pid = os.fork()
        if pid == 0:  # the child: closing everything must not touch the parent's job
            try:
                conn.release()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        stats = tube_stats(raw, queue.name)
        assert (stats["current-jobs-reserved"], stats["current-jobs-ready"]) == (1, 0)
        message.ack()
        assert tube_stats(raw, queue.name)["current-jobs-reserved"] == 0
    finally:
        cleanup(conn, queue)


def test_job_written_by_kombu3_beanstalk_transport_is_read(conn: Any, raw: Any) -> None:
    """Kombu 3's beanstalk transport put the JSON envelope alone (no queue key) in the tube."""
    import base64
    import json

    from kombu_transport_beanstalk.names import tube_for

    queue = declared(conn)
    try:
        envelope = {
            "body": base64.b64encode(b'{"from": "kombu3"}').decode(),
            "content-type": "application/json",
            "content-encoding": "utf-8",
            "headers": {},
            "properties": {
                "body_encoding": "base64",
                "priority": 0,
                "delivery_info": {"exchange": queue.name, "routing_key": queue.name},
            },
        }
        raw.use(tube_for(queue.name))
        raw.put(json.dumps(envelope).encode())
        got: list[Any] = []
        with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: got.append((b, m))]):
            conn.drain_events(timeout=5)
        assert got and got[0][0] == {"from": "kombu3"}
        got[0][1].ack()
        assert tube_stats(raw, queue.name)["current-jobs-reserved"] == 0
    finally:
        cleanup(conn, queue)


def test_per_message_ttr_property(conn: Any, raw: Any) -> None:
    from kombu_transport_beanstalk.names import tube_for

    queue = declared(conn)
    try:
        conn.Producer().publish("x", exchange=queue.exchange, routing_key=queue.routing_key, ttr=7)
        assert settled(conn, queue) == 1
        raw.use(tube_for(queue.name))
        assert raw.stats_job(raw.peek_ready())["ttr"] == 7
    finally:
        cleanup(conn, queue)


def test_undecodable_jobs_are_rejected_and_the_consumer_goes_on(conn: Any, raw: Any) -> None:
    """Bad base64 and a refused content type: both rejected (deleted), the good one delivered."""
    import json

    from kombu_transport_beanstalk.names import tube_for

    queue = declared(conn)
    try:

        def job(body: str, content_type: str) -> bytes:
            return json.dumps(
                {
                    "body": body,
                    "content-type": content_type,
                    "content-encoding": "utf-8",
                    "headers": {},
                    "queue": queue.name,
                    "properties": {"body_encoding": "base64", "priority": 0, "delivery_info": {}},
                }
            ).encode()

        raw.use(tube_for(queue.name))
        raw.put(job("!!!not base64!!!", "application/json"))
        raw.put(job("gASVAAAAAAAAAAAu", "application/x-python-serialize"))
        conn.Producer().publish("good", exchange=queue.exchange, routing_key=queue.routing_key)
        got: list[Any] = []
        errors: list[Exception] = []
        with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
                except Exception as exc:  # noqa: BLE001 - the decode errors Consumer re-raises
                    errors.append(exc)
        assert got == ["good"]
        assert len(errors) == 2, errors
        stats = tube_stats(raw, queue.name)
        assert sum(stats[f"current-jobs-{s}"] for s in ("ready", "reserved", "delayed", "buried")) == 0
    finally:
        cleanup(conn, queue)


def test_idle_consumer_polls_with_one_reserve(private_beanstalkd: Any) -> None:
    """Rounds grow while full and shrink when the queue runs dry: idle polling stays cheap.

    On the session's private server: the count is server-wide, others' reserves would add up.
    """
    import greenstalk

    raw = greenstalk.Client(("127.0.0.1", private_beanstalkd.port))
    with raw, Connection(private_beanstalkd.url, transport_options={"polling_interval": 0.05}) as conn:
        queue = declared(conn)
        try:
            producer = conn.Producer()
            for i in range(300):
                producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
            got: list[Any] = []
            with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: (got.append(b), m.ack())]):
                while len(got) < 300:
                    conn.drain_events(timeout=5)
                before = raw.stats()["cmd-reserve-with-timeout"]
                for _ in range(4):  # ~40 polls of an empty queue
                    with pytest.raises(TimeoutError):
                        conn.drain_events(timeout=0.5)
                polls = raw.stats()["cmd-reserve-with-timeout"] - before
            assert sorted(got) == list(range(300))
            assert polls < 400, f"{polls} reserve commands for ~40 idle polls"
        finally:
            cleanup(conn, queue)


def test_full_prefetch_window_waits_without_spinning(conn: Any) -> None:
    """With prefetch_count reached, drain_events sleeps until its timeout instead of spinning."""
    import resource

    queue = declared(conn)
    try:
        producer = conn.Producer()
        for i in range(3):
            producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
        got: list[Any] = []
        with Consumer(conn.default_channel, [queue], callbacks=[lambda b, m: got.append(m)], prefetch_count=1):
            conn.drain_events(timeout=5)
            assert len(got) == 1
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=2)
            after = resource.getrusage(resource.RUSAGE_SELF)
            used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
            assert used < 0.4, f"{used:.2f} s of CPU while waiting 2 s with a full prefetch window"
            got[0].ack()
    finally:
        cleanup(conn, queue)


def test_one_message_per_drain_and_buffered_acks_reach_the_server(beanstalkd: str, raw: Any) -> None:
    """Each drain delivers one job; an ack made while reserved jobs wait in the channel
    is sent within the TTR even if the application stops draining (no redelivery)."""
    options = {"visibility_timeout": 2}
    with Connection(beanstalkd, transport_options=options) as conn:
        queue = declared(conn)
        try:
            producer = conn.Producer()
            for i in range(3):
                producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
            got: list[Any] = []

            def on_message(body: Any, message: Any) -> None:
                got.append(body)
                message.ack()

            with Consumer(conn.default_channel, [queue], callbacks=[on_message], prefetch_count=10):
                conn.drain_events(timeout=5)
                assert got == [0]
                time.sleep(5)  # 2.5 TTRs without draining: the acked job must be gone
                stats = tube_stats(raw, queue.name)
                assert stats["current-jobs-reserved"] + stats["current-jobs-ready"] == 2, "the acked job is still there"
                conn.drain_events(timeout=5)
                conn.drain_events(timeout=5)
                assert got == [0, 1, 2]
                with pytest.raises(TimeoutError):
                    conn.drain_events(timeout=0.5)
        finally:
            cleanup(conn, queue)


def test_a_no_ack_consumers_jobs_are_deleted_and_the_undelivered_ones_released(beanstalkd: str, raw: Any) -> None:
    """A no_ack delivery is gone from the server for good; a job reserved but not delivered
    yet goes back to ready when the connection closes."""
    with Connection(beanstalkd) as publisher:
        queue = declared(publisher)
        try:
            producer = publisher.Producer()
            for i in range(2):
                producer.publish(i, exchange=queue.exchange, routing_key=queue.routing_key)
            assert settled(publisher, queue) == 2
            got: list[Any] = []
            with Connection(beanstalkd) as conn:
                with Consumer(conn.default_channel, [queue], callbacks=[lambda body, m: got.append(body)], no_ack=True):
                    conn.drain_events(timeout=5)
                    assert got == [0]
            stats = tube_stats(raw, queue.name)
            assert (stats["current-jobs-ready"], stats["current-jobs-reserved"]) == (1, 0)
            assert queue(publisher.default_channel).get().payload == 1
        finally:
            cleanup(publisher, queue)
