"""Poison messages never stop a consumer (memory://; RabbitMQ in kombu-transport-amqp).

A message that cannot be decoded is rejected without requeue and logged once
with its queue and delivery tag; the next message still arrives. With an
``on_decode_error`` callback the application decides instead (Kombu 5).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Queue
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.mixins import ConsumerMixin
from kombu.utils.limits import TokenBucket
from kombu.utils.uuid import uuid

BAD: dict[str, dict[str, Any]] = {
    "corrupt-json": {"body": b"{not json", "content_type": "application/json", "content_encoding": "utf-8"},
    "bad-utf8": {"body": b"\xff\xfe\x00", "content_type": "application/json", "content_encoding": "utf-8"},
    "not-accepted": {
        "body": b"\x80\x04K\x01.",
        "content_type": "application/x-python-serialize",
        "content_encoding": "binary",
    },
    "unknown-type": {"body": b"??", "content_type": "application/x-nobody-knows", "content_encoding": "binary"},
    "corrupt-compression": {
        "body": b"not zlib",
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "headers": {"compression": "application/x-gzip"},
    },
}


def make_queue() -> Queue:
    name = f"poison-{uuid()}"
    return Queue(name, Exchange(name), name)


def publish(conn: Connection, queue: Queue, body: Any, **kwargs: Any) -> None:
    conn.Producer().publish(body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue], **kwargs)


def poison_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "kombu.messaging" and "cannot be decoded" in r.getMessage()]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_consumer_rejects_logs_and_raises_then_delivers_the_next(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    got: list[Any] = []
    with Connection("memory://") as conn:
        publish(conn, queue, **BAD[kind])
        publish(conn, queue, {"good": True})
        with Consumer(
            conn.default_channel,
            [queue],
            accept=["json"],
            callbacks=[lambda body, message: (got.append(body), message.ack())],
        ):
            with caplog.at_level(logging.ERROR, logger="kombu.messaging"):
                with pytest.raises((DecodeError, ContentDisallowed)):
                    conn.drain_events(timeout=2)
            conn.drain_events(timeout=2)
        assert got == [{"good": True}]
        records = poison_records(caplog)
        assert len(records) == 1
        assert queue.name in records[0].getMessage()
        assert "delivery tag" in records[0].getMessage()
        # rejected without requeue: nothing left, nothing unacked
        channel = conn.default_channel
        assert queue(channel).queue_declare(passive=True).message_count == 0
        assert not channel.qos._delivered


def test_on_decode_error_keeps_kombu_meaning() -> None:
    queue = make_queue()
    seen: list[tuple[Any, BaseException]] = []
    with Connection("memory://") as conn:
        publish(conn, queue, **BAD["corrupt-json"])
        with Consumer(
            conn.default_channel,
            [queue],
            callbacks=[lambda b, m: None],
            on_decode_error=lambda message, exc: seen.append((message, exc)),
        ):
            conn.drain_events(timeout=2)
        assert len(seen) == 1 and isinstance(seen[0][1], DecodeError)
        message = seen[0][0]
        assert not message.acknowledged  # the application decides
        message.requeue()


def test_no_ack_consumer_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    with Connection("memory://") as conn:
        publish(conn, queue, **BAD["corrupt-json"])
        with Consumer(conn.default_channel, [queue], no_ack=True, callbacks=[lambda b, m: None]):
            with caplog.at_level(logging.ERROR, logger="kombu.messaging"):
                with pytest.raises(DecodeError):
                    conn.drain_events(timeout=2)
        assert len(poison_records(caplog)) == 1
        assert not [r for r in caplog.records if "Could not reject" in r.getMessage()]


class Worker(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue, want: int) -> None:
        self.connection = connection
        self.queue = queue
        self.want = want
        self.bodies: list[Any] = []
        self.restart_limit = TokenBucket(1000, capacity=100)

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        return [Consumer(queues=[self.queue], callbacks=[self.on_message], accept=["json"])]

    def on_message(self, body: Any, message: Any) -> None:
        self.bodies.append(body)
        message.ack()
        if len(self.bodies) >= self.want:
            self.should_stop = True


def test_consumer_mixin_goes_on_after_every_kind_of_poison(caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    conn = Connection("memory://")
    for n, kind in enumerate(sorted(BAD)):
        publish(conn, queue, **BAD[kind])
        publish(conn, queue, {"n": n})
    worker = Worker(conn, queue, want=len(BAD))
    with caplog.at_level(logging.ERROR, logger="kombu.messaging"):
        for _ in worker.consume(limit=4 * len(BAD), safety_interval=0.5):
            if worker.should_stop:
                break
    assert worker.bodies == [{"n": n} for n in range(len(BAD))]
    records = poison_records(caplog)
    assert len(records) == len(BAD)
    assert all(queue.name in r.getMessage() for r in records)
    with Connection("memory://") as check:
        assert queue(check.default_channel).queue_declare(passive=True).message_count == 0


def test_queue_get_rejects_what_the_transport_could_not_read(caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    with Connection("memory://") as conn:
        publish(conn, queue, **BAD["corrupt-compression"])
        publish(conn, queue, {"good": True})
        bound = queue(conn.default_channel)
        with caplog.at_level(logging.ERROR, logger="kombu.messaging"):
            with pytest.raises(Exception):  # noqa: B017 - the decompressor's own error
                bound.get()
        assert len(poison_records(caplog)) == 1
        message = bound.get()
        assert message is not None and message.decode() == {"good": True}
        message.ack()
        assert not conn.default_channel.qos._delivered
