"""kombu.mixins on memory://."""

from __future__ import annotations

import socket

import pytest
from kombu import Connection, Exchange, Queue
from kombu.exceptions import ConnectionError
from kombu.mixins import ConsumerMixin, ConsumerProducerMixin
from kombu.utils.limits import TokenBucket
from kombu.utils.uuid import uuid


def make_queue() -> Queue:
    name = f"mixin-{uuid()}"
    return Queue(name, Exchange(name), name)


def publish(queue: Queue, *bodies, **kwargs) -> None:
    with Connection("memory://") as conn:
        producer = conn.Producer()
        for body in bodies:
            producer.publish(body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue], **kwargs)


class Worker(ConsumerMixin):
    def __init__(self, connection, queue, stop_after):
        self.connection = connection
        self.queue = queue
        self.stop_after = stop_after
        self.bodies = []
        self.events = []
        # no one-second pause between reconnects in tests
        self.restart_limit = TokenBucket(1000, capacity=100)

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=[self.queue], callbacks=[self.on_message], accept=["json", "text/plain"])]

    def on_message(self, body, message):
        self.bodies.append(body)
        message.ack()
        if len(self.bodies) >= self.stop_after:
            self.should_stop = True

    def on_connection_revived(self):
        self.events.append("revived")

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.events.append("ready")
        assert len(consumers) == 1

    def on_consume_end(self, connection, channel):
        self.events.append("end")


def test_run_consumes_until_should_stop():
    queue = make_queue()
    publish(queue, 1, 2, 3)
    with Connection("memory://") as conn:
        worker = Worker(conn, queue, stop_after=3)
        worker.run()
    assert worker.bodies == [1, 2, 3]
    assert worker.events == ["revived", "ready", "end"]
    assert worker.should_stop


def test_run_reconnects_after_connection_is_cut():
    queue = make_queue()
    publish(queue, "before")

    class CuttingWorker(Worker):
        cut = False

        def on_message(self, body, message):
            super().on_message(body, message)
            if not self.cut:
                self.cut = True
                transport = message.channel.connection

                def broken(*args, **kwargs):
                    raise ConnectionError("connection cut")

                transport.drain_events = broken

        def on_iteration(self):
            # published once the cut drain is next: it can only arrive after
            # reconnecting (a drain may deliver several ready messages)
            if self.cut and not self.published:
                self.published = True
                publish(queue, "after")

        published = False

    with Connection("memory://") as conn:
        worker = CuttingWorker(conn, queue, stop_after=2)
        worker.run()
    assert worker.bodies == ["before", "after"]
    assert worker.events.count("revived") == 2


def test_unacked_message_is_consumed_again_after_reconnect():
    queue = make_queue()
    publish(queue, "unacked")

    class DyingWorker(Worker):
        def on_message(self, body, message):
            self.bodies.append(body)
            if len(self.bodies) == 1:
                raise ConnectionError("died before acking")
            message.ack()
            self.should_stop = True

    with Connection("memory://") as conn:
        worker = DyingWorker(conn, queue, stop_after=2)
        worker.run()
    assert worker.bodies == ["unacked", "unacked"]


def test_decode_error_is_acked_and_consuming_goes_on():
    queue = make_queue()
    publish(queue, "refused", serializer="pickle")
    publish(queue, "fine")
    with Connection("memory://") as conn:
        worker = Worker(conn, queue, stop_after=1)
        worker.run()
    assert worker.bodies == ["fine"]
    with Connection("memory://") as conn:
        assert queue(conn.default_channel).get() is None  # the refused one was rejected, not requeued


def test_consume_times_out_when_idle():
    queue = make_queue()
    with Connection("memory://") as conn:
        worker = Worker(conn, queue, stop_after=1)
        with pytest.raises(socket.timeout):
            for _ in worker.consume(timeout=0.05, safety_interval=0.01):
                pass


def test_consume_limit():
    """``limit`` counts iterations (each one drain with events), whatever a drain delivers."""
    queue = make_queue()
    with Connection("memory://") as conn:
        worker = Worker(conn, queue, stop_after=100)
        iterations = worker.consume(limit=2, safety_interval=0.2)
        publish(queue, "a")
        next(iterations)
        assert worker.bodies == ["a"]
        publish(queue, "b")
        next(iterations)
        assert worker.bodies == ["a", "b"]
        publish(queue, "c")
        with pytest.raises(StopIteration):
            next(iterations)
    assert worker.bodies == ["a", "b"]


def test_get_consumers_is_required():
    with Connection("memory://") as conn:

        class Empty(ConsumerMixin):
            connection = conn

        with pytest.raises(NotImplementedError):
            list(Empty().consume(limit=1))


def test_consumer_producer_mixin_replies_on_its_own_connection():
    requests, replies = make_queue(), make_queue()
    publish(requests, {"x": 2})

    class Doubler(ConsumerProducerMixin):
        def __init__(self, connection):
            self.connection = connection

        def get_consumers(self, Consumer, channel):
            return [Consumer(queues=[requests], callbacks=[self.on_request])]

        def on_request(self, body, message):
            assert self.producer_connection is not self.connection
            self.producer.publish(
                {"x": body["x"] * 2}, exchange=replies.exchange, routing_key=replies.routing_key, declare=[replies]
            )
            message.ack()
            self.should_stop = True

    with Connection("memory://") as conn:
        worker = Doubler(conn)
        worker.run()
        assert worker._producer_connection is None  # closed on consume end
        assert replies(conn.default_channel).get(no_ack=True).payload == {"x": 4}


def test_connecting_backs_off_until_the_broker_is_reachable(monkeypatch):
    import kombu.utils.functional as functional

    slept = []
    monkeypatch.setattr(functional, "sleep", slept.append)
    queue = make_queue()
    publish(queue, "finally")

    class PatientWorker(Worker):
        failures = 2
        intervals: list = []

        def create_connection(self):
            conn = super().create_connection()
            worker = self
            real = conn.transport.establish_connection

            def flaky():
                if worker.failures:
                    worker.failures -= 1
                    raise ConnectionError("broker unreachable")
                return real()

            conn.transport.establish_connection = flaky
            return conn

        def on_connection_error(self, exc, interval):
            self.intervals.append(interval)

    with Connection("memory://") as conn:
        worker = PatientWorker(conn, queue, stop_after=1)
        worker.run()
    assert worker.bodies == ["finally"]
    assert worker.intervals == [2.0, 4.0]  # Kombu's default back-off: 2 s, then 2 s more
    assert sum(slept) == 6.0
