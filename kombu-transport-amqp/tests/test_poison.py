"""Poison messages on RabbitMQ: rejected to the dead-letter exchange, the consumer goes on.

Bad messages are written with raw py-amqp (non-UTF-8 short strings in the
properties, a corrupt body, a refused serializer) ahead of a good one; a
``ConsumerMixin`` on ``amqp://`` and on ``pika://`` must receive the good
one on its first connection, and every bad one must end in the queue's
dead-letter queue, none left behind or redelivered.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import amqp
import pytest
from kombu import Connection, Queue

from .conftest import AMQP_URL, fresh
from .test_recovery import Worker

TIMEOUT = 30.0

BAD: list[dict[str, Any]] = [
    {"content_type": b"application/\xffjson", "content_encoding": "utf-8"},
    {"content_type": "application/json", "content_encoding": b"utf-\xfe8"},
    {"content_type": "application/json", "content_encoding": "utf-8", "correlation_id": b"\xc3\x28"},
    {"content_type": "application/json", "content_encoding": "utf-8", "body": b"{not json"},
    {"content_type": "application/x-python-serialize", "content_encoding": "binary", "body": b"\x80\x04K\x01."},
]


def raw_channel() -> tuple[amqp.Connection, Any]:
    parts = urlsplit(AMQP_URL)
    conn = amqp.Connection(
        f"{parts.hostname}:{parts.port or 5672}", userid=parts.username or "guest", password=parts.password or "guest"
    )
    conn.connect()
    return conn, conn.channel()


def test_poison_goes_to_the_dead_letter_queue_and_the_consumer_goes_on(url: str, names: list[str]) -> None:
    dlx, dead, name = fresh(names, "dlx"), fresh(names, "dead"), fresh(names)
    raw, channel = raw_channel()
    try:
        channel.exchange_declare(dlx, "fanout", auto_delete=False)
        channel.queue_declare(dead, auto_delete=False)
        channel.queue_bind(dead, dlx)
        channel.queue_declare(name, auto_delete=False, arguments={"x-dead-letter-exchange": dlx})
        for bad in BAD:
            props = dict(bad)
            channel.basic_publish(amqp.Message(props.pop("body", b'{"bad": 1}'), **props), "", name)
        channel.basic_publish(
            amqp.Message(b'{"good": 1}', content_type="application/json", content_encoding="utf-8"), "", name
        )
        queue = Queue(name, no_declare=True)
        worker = Worker(Connection(url), queue, want=1)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        thread.join(TIMEOUT)
        worker.should_stop = True
        assert not thread.is_alive(), "the good message never arrived"
        assert worker.bodies == [{"good": 1}]
        # one connect (revived + consume ready): no poison message broke it
        assert worker.connects == 2
        deadline = time.monotonic() + TIMEOUT
        while channel.queue_declare(dead, passive=True).message_count < len(BAD):
            assert time.monotonic() < deadline, "not every poison message was dead-lettered"
            time.sleep(0.1)
        assert channel.queue_declare(name, passive=True).message_count == 0
    finally:
        raw.close()


def test_queue_get_rejects_a_message_with_undecodable_properties(url: str, names: list[str]) -> None:
    from kombu.exceptions import DecodeError

    name = fresh(names)
    raw, channel = raw_channel()
    try:
        channel.queue_declare(name, auto_delete=False)
        channel.basic_publish(
            amqp.Message(b'{"bad": 1}', content_type=b"application/\xffjson", content_encoding="utf-8"), "", name
        )
        channel.basic_publish(
            amqp.Message(b'{"good": 1}', content_type="application/json", content_encoding="utf-8"), "", name
        )
        with Connection(url) as conn:
            queue = Queue(name, no_declare=True)(conn.default_channel)
            with pytest.raises(DecodeError):
                queue.get()
            message = queue.get()
            assert message is not None and message.decode() == {"good": 1}
            message.ack()
            assert queue.get() is None  # the bad one was rejected, not left unacked
        assert channel.queue_declare(name, passive=True).message_count == 0
    finally:
        raw.close()
