"""The virtual engine's queue policies: parsing, x-death, expiry, limits, poison, persistence hook."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import ChannelError, DecodeError
from kombu.testing.services import missing_service
from kombu.transport import memory
from kombu.transport.virtual.deadletter import dead_letter_envelope
from kombu.transport.virtual.message import MalformedEnvelope
from kombu.transport.virtual.policy import PUBLISHED_AT, InvalidQueueArgument, QueuePolicy, message_deadline

DLX = QueuePolicy(dead_letter_exchange="dlx", dead_letter_routing_key="dead")


# -- policy parsing ------------------------------------------------------------------


def test_no_policy_without_policy_arguments() -> None:
    assert QueuePolicy.from_arguments(None) is None
    assert QueuePolicy.from_arguments({"x-max-priority": 10}) is None


def test_policy_from_arguments() -> None:
    policy = QueuePolicy.from_arguments(
        {
            "x-message-ttl": 1500,
            "x-expires": 60000,
            "x-max-length": 3,
            "x-overflow": "reject-publish",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "dlq",
        }
    )
    assert policy == QueuePolicy(
        message_ttl=1500,
        expires=60000,
        max_length=3,
        overflow="reject-publish",
        dead_letter_exchange="",
        dead_letter_routing_key="dlq",
    )
    assert policy is not None and policy.limited


@pytest.mark.parametrize(
    "arguments",
    [
        {"x-overflow": "explode"},
        {"x-message-ttl": -1},
        {"x-message-ttl": "soon"},
        {"x-expires": 0},
        {"x-max-length": 1.5},
        {"x-dead-letter-routing-key": "k"},
    ],
)
def test_invalid_arguments_are_typed_errors(arguments: dict[str, Any]) -> None:
    with pytest.raises(InvalidQueueArgument) as info:
        QueuePolicy.from_arguments(arguments)
    assert isinstance(info.value, ChannelError) and isinstance(info.value, ValueError)


def test_deadline_is_the_earlier_ttl_from_publish_time() -> None:
    props = {PUBLISHED_AT: 100.0, "expiration": "5000"}
    assert message_deadline(props, None) == 105.0
    assert message_deadline(props, QueuePolicy(message_ttl=2000)) == 102.0
    assert message_deadline({PUBLISHED_AT: 100.0}, QueuePolicy(message_ttl=2000)) == 102.0
    assert message_deadline({"expiration": "5000"}, None) is None  # not stamped: no known age
    assert message_deadline({PUBLISHED_AT: 100.0, "expiration": "bogus"}, None) is None


# -- x-death -------------------------------------------------------------------------


def _envelope(**props: Any) -> dict[str, Any]:
    return {
        "body": "b",
        "content-type": "text/plain",
        "content-encoding": "utf-8",
        "headers": {"h": 1},
        "redelivered": True,
        "properties": {"delivery_info": {"exchange": "ex", "routing_key": "rk"}, "delivery_tag": "t1", **props},
    }


def test_first_death_record() -> None:
    routed = dead_letter_envelope(_envelope(expiration="300"), "src", "expired", DLX, 1234.5)
    assert routed is not None
    exchange, routing_key, env = routed
    assert (exchange, routing_key) == ("dlx", "dead")
    assert env["headers"]["x-death"] == [
        {
            "count": 1,
            "reason": "expired",
            "queue": "src",
            "time": 1234,
            "exchange": "ex",
            "routing-keys": ["rk"],
            "original-expiration": "300",
        }
    ]
    assert env["headers"]["h"] == 1
    assert env["headers"]["x-first-death-reason"] == "expired"
    assert "expiration" not in env["properties"] and "delivery_tag" not in env["properties"]
    assert env["properties"]["delivery_info"] == {}
    assert "redelivered" not in env


def test_routing_key_defaults_to_the_messages_own() -> None:
    routed = dead_letter_envelope(_envelope(), "src", "rejected", QueuePolicy(dead_letter_exchange="dlx"), 0)
    assert routed is not None and routed[1] == "rk"


def test_same_queue_and_reason_increments_and_moves_first() -> None:
    first = dead_letter_envelope(_envelope(), "a", "rejected", DLX, 1)
    assert first is not None
    env = first[2]
    env["properties"]["delivery_info"] = {"exchange": "ex", "routing_key": "rk"}
    second = dead_letter_envelope(env, "b", "rejected", DLX, 2)
    assert second is not None
    env = second[2]
    env["properties"]["delivery_info"] = {"exchange": "ex", "routing_key": "rk"}
    third = dead_letter_envelope(env, "a", "rejected", DLX, 3)
    assert third is not None
    deaths = third[2]["headers"]["x-death"]
    assert [(d["queue"], d["count"]) for d in deaths] == [("a", 2), ("b", 1)]
    assert third[2]["headers"]["x-first-death-queue"] == "a"
    assert third[2]["headers"]["x-last-death-queue"] == "a"


def test_cycle_without_rejection_is_dropped() -> None:
    first = dead_letter_envelope(_envelope(), "a", "expired", DLX, 1)
    assert first is not None
    assert dead_letter_envelope(first[2], "a", "expired", DLX, 2) is None
    # A rejection in the cycle makes it deliberate: it goes on.
    rejected = dead_letter_envelope(first[2], "b", "rejected", DLX, 2)
    assert rejected is not None
    assert dead_letter_envelope(rejected[2], "a", "expired", DLX, 3) is not None


def test_no_dead_letter_exchange_no_envelope() -> None:
    assert dead_letter_envelope(_envelope(), "a", "rejected", QueuePolicy(message_ttl=1), 0) is None


# -- memory:// behaviour ---------------------------------------------------------------


@pytest.fixture
def conn() -> Iterator[Connection]:
    with Connection("memory://") as connection:
        yield connection


def _names(label: str) -> tuple[str, str]:
    suffix = os.urandom(4).hex()
    return f"vp.{label}.{suffix}", f"vp.{label}.{suffix}.x"


def test_unused_queue_expires_and_a_consumed_one_does_not(conn: Connection) -> None:
    idle, idle_x = _names("idle")
    busy, busy_x = _names("busy")
    channel = conn.channel()
    Queue(idle, Exchange(idle_x), idle, expires=0.3)(channel).declare()
    busy_queue = Queue(busy, Exchange(busy_x), busy, expires=0.3)
    busy_queue(channel).declare()
    with Consumer(conn.channel(), [busy_queue], callbacks=[lambda body, message: None]):
        time.sleep(0.6)
        with pytest.raises(ChannelError):
            channel.queue_declare(idle, passive=True)
        assert channel.queue_declare(busy, passive=True).queue == busy
    time.sleep(0.6)
    with pytest.raises(ChannelError):
        channel.queue_declare(busy, passive=True)


def test_basic_get_restarts_the_expiry(conn: Connection) -> None:
    name, x = _names("got")
    channel = conn.channel()
    queue = Queue(name, Exchange(x), name, expires=0.5)
    queue(channel).declare()
    for _ in range(4):
        time.sleep(0.2)
        assert queue(channel).get() is None
    assert channel.queue_declare(name, passive=True).queue == name
    channel.queue_delete(name)


def test_max_length_bytes_drop_head(conn: Connection) -> None:
    name, x = _names("bytes")
    channel = conn.channel()
    queue = Queue(name, Exchange(x), name, max_length_bytes=10)
    queue(channel).declare()
    producer = Producer(channel, exchange=queue.exchange)
    for body in ("aaaa", "bbbb", "cccc"):
        producer.publish(body, routing_key=name)
    got = [m.payload for m in iter(lambda: queue(channel).get(), None)]
    assert got == ["bbbb", "cccc"]


def test_reject_publish_dlx_dead_letters_the_refused_message(conn: Connection) -> None:
    name, x = _names("rpdlx")
    dlq, dlx = _names("rpdlx.dead")
    channel = conn.channel()
    dead = Queue(dlq, Exchange(dlx), "dead")
    dead(channel).declare()
    queue = Queue(
        name,
        Exchange(x),
        name,
        max_length=1,
        queue_arguments={
            "x-overflow": "reject-publish-dlx",
            "x-dead-letter-exchange": dlx,
            "x-dead-letter-routing-key": "dead",
        },
    )
    queue(channel).declare()
    producer = Producer(channel, exchange=queue.exchange)
    producer.publish("kept", routing_key=name)
    producer.publish("refused", routing_key=name)
    message = dead(channel).get()
    assert message is not None and message.payload == "refused"
    assert message.headers["x-death"][0]["reason"] == "maxlen"
    assert [m.payload for m in iter(lambda: queue(channel).get(), None)] == ["kept"]


def test_requeued_message_keeps_its_deadline(conn: Connection) -> None:
    name, x = _names("requeue")
    channel = conn.channel()
    queue = Queue(name, Exchange(x), name)
    queue(channel).declare()
    Producer(channel, exchange=queue.exchange).publish("soon", routing_key=name, expiration=0.4)
    message = queue(channel).get()
    assert message is not None
    message.requeue()
    time.sleep(0.6)
    assert queue(channel).get() is None


def test_malformed_properties_decode_to_a_typed_error_and_the_next_arrives(conn: Connection) -> None:
    name, x = _names("poison")
    channel = conn.default_channel
    queue = Queue(name, Exchange(x), name)
    queue(channel).declare()
    channel._put(name, {"body": "x", "content-type": "application/json", "properties": "garbage"})
    channel._put(name, {"body": "x", "content-type": 7, "properties": {"delivery_info": {}}})
    Producer(channel, exchange=queue.exchange).publish({"good": True}, routing_key=name)
    errors: list[BaseException] = []
    bodies: list[Any] = []

    def on_decode_error(message: Any, exc: BaseException) -> None:
        errors.append(exc)
        message.reject()

    def on_body(body: Any, message: Any) -> None:
        bodies.append(body)
        message.ack()

    with Consumer(channel, [queue], callbacks=[on_body], on_decode_error=on_decode_error):
        deadline = time.monotonic() + 10
        while not bodies and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                pass
    assert bodies == [{"good": True}]
    assert len(errors) == 2 and all(isinstance(e, MalformedEnvelope) for e in errors)
    assert all(isinstance(e, DecodeError) for e in errors)
    assert queue(channel).get() is None


def test_celery_event_queue_and_expiring_tasks_are_accepted(conn: Connection) -> None:
    # What Celery declares for its event receiver and sends with apply_async(expires=).
    name, x = _names("celeryev")
    channel = conn.channel()
    events = Queue(name, Exchange(x, "topic"), "#", auto_delete=True, durable=False, message_ttl=5.0, expires=60.0)
    events(channel).declare()
    Producer(channel, exchange=events.exchange).publish(
        {"type": "worker-heartbeat"}, routing_key="worker.heartbeat", expiration=5.0
    )
    message = events(channel).get()
    assert message is not None and message.payload == {"type": "worker-heartbeat"}
    message.ack()


def test_stored_queue_arguments_are_loaded_by_a_process_that_never_declared() -> None:
    loaded: list[str] = []

    class Channel(memory.Channel):
        def _load_queue_arguments(self, queue: str) -> dict[str, Any] | None:
            loaded.append(queue)
            return {"x-message-ttl": 100}

    class Transport(memory.Transport):
        pass

    Transport.Channel = Channel
    with Connection(transport=Transport) as connection:
        name, _ = _names("stored")
        channel = connection.channel()
        channel._new_queue(name)  # created, but not declared through the engine here
        channel.state.queue_policies.pop(name, None)
        channel.basic_publish(channel.prepare_message("old"), "", name)
        time.sleep(0.3)
        assert channel.basic_get(name) is None
        assert channel.basic_get(name) is None
        assert loaded == [name], "the hook is asked once per queue"
        channel.queue_delete(name)


def test_published_at_stamp_is_not_an_application_property(conn: Connection) -> None:
    name, x = _names("stamp")
    channel = conn.channel()
    queue = Queue(name, Exchange(x), name)
    queue(channel).declare()
    Producer(channel, exchange=queue.exchange).publish("s", routing_key=name)
    message = queue(channel).get()
    assert message is not None
    assert PUBLISHED_AT not in message.properties
    assert isinstance(message.published_at, float)
    assert PUBLISHED_AT in message.serializable()["properties"]
    message.ack()


# -- wire compatibility: a Kombu 5.7 consumer on the same redis ------------------------------

ROOT = Path(__file__).resolve().parents[2]
KOMBU57 = ROOT / ".venv-kombu57" / "bin" / "python"
REDIS_URL = "redis://127.0.0.1:6379/12"


def _need_redis() -> None:
    from kombu.testing.services import require_service

    def probe() -> None:
        with Connection(REDIS_URL, connect_timeout=2) as probe_conn:
            probe_conn.connect()

    require_service("redis", probe)


KOMBU57_CONSUMER = r"""
import json, socket, sys, time
from kombu import Connection, Consumer, Exchange, Queue
name = sys.argv[1]
got = []
with Connection(sys.argv[2]) as conn:
    q = Queue(name, Exchange(name + ".x"), name)
    def cb(body, message):
        got.append({"body": body, "headers": message.headers,
                    "expiration": message.properties.get("expiration")})
        message.ack()
    with Consumer(conn.channel(), [q], callbacks=[cb], accept=["json"]):
        deadline = time.time() + 10
        while len(got) < 2 and time.time() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except socket.timeout:
                pass
print(json.dumps(got))
"""


def test_kombu57_reads_ttl_and_dead_lettered_messages_on_redis() -> None:
    if not KOMBU57.exists():
        missing_service("no .venv-kombu57 (make reference)")
    _need_redis()
    name, x = _names("wire")
    src = Queue(
        name + ".src",
        Exchange(x),
        "src",
        queue_arguments={"x-dead-letter-exchange": name + ".x", "x-dead-letter-routing-key": name},
    )
    target = Queue(name, Exchange(name + ".x"), name)
    with Connection(REDIS_URL) as connection:
        channel = connection.channel()
        target(channel).declare()
        src(channel).declare()
        producer = Producer(channel)
        producer.publish({"n": 1}, exchange=target.exchange, routing_key=name, expiration=60)
        producer.publish({"n": 2}, exchange=src.exchange, routing_key="src")
        message = src(channel).get()
        assert message is not None
        message.reject()
        try:
            out = subprocess.run(
                [str(KOMBU57), "-c", KOMBU57_CONSUMER, name, REDIS_URL],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            src(channel).delete()
            target(channel).delete()
    assert [g["body"] for g in got] == [{"n": 1}, {"n": 2}]
    assert got[0]["expiration"] == "60000"
    assert got[1]["headers"]["x-death"][0]["reason"] == "rejected"


def test_celery_event_queue_and_expiring_tasks_are_accepted_on_redis() -> None:
    _need_redis()
    name, x = _names("celeryev")
    events = Queue(name, Exchange(x, "topic"), "#", auto_delete=True, durable=False, message_ttl=5.0, expires=60.0)
    with Connection(REDIS_URL) as connection:
        channel = connection.channel()
        events(channel).declare()
        try:
            producer = Producer(channel, exchange=events.exchange)
            producer.publish({"type": "task-sent"}, routing_key="task.sent", expiration=0.2)
            producer.publish({"type": "worker-heartbeat"}, routing_key="worker.heartbeat", expiration=5.0)
            time.sleep(0.5)
            message = events(channel).get()
            assert message is not None and message.payload == {"type": "worker-heartbeat"}
            message.ack()
            assert events(channel).get() is None
        finally:
            events(channel).delete()


def test_nack_multiple_dead_letters_every_delivery_up_to_the_tag(conn: Connection) -> None:
    name, x = _names("nack")
    dlq, dlx = _names("nack.dead")
    channel = conn.channel()
    dead = Queue(dlq, Exchange(dlx), "dead")
    dead(channel).declare()
    queue = Queue(
        name, Exchange(x), name, queue_arguments={"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    )
    queue(channel).declare()
    producer = Producer(channel, exchange=queue.exchange)
    for i in range(3):
        producer.publish(i, routing_key=name)
    messages = [queue(channel).get() for _ in range(3)]
    assert all(m is not None for m in messages)
    channel.basic_nack(messages[1].delivery_tag, multiple=True, requeue=False)  # type: ignore[union-attr]
    assert [m.payload for m in iter(lambda: dead(channel).get(), None)] == [0, 1]
    messages[2].ack()  # type: ignore[union-attr]
    assert queue(channel).get() is None


def test_a_producer_that_never_declared_the_queue_honours_its_stored_limit():
    """The engine loads the stored arguments of a queue it routes to but never declared."""
    from kombu import Connection, Exchange, Producer, Queue
    from kombu.transport import memory

    stored = {"x-max-length": 1, "x-overflow": "reject-publish"}

    class StoringChannel(memory.Channel):
        def _load_queue_arguments(self, queue):
            return stored if queue == "policies-stored-limit" else None

    class StoringTransport(memory.Transport):
        Channel = StoringChannel
        state = memory.virtual.BrokerState()

    with Connection(transport=StoringTransport) as conn:
        conn.transport.capabilities = memory.Transport.capabilities
        channel = conn.channel()
        exchange = Exchange("policies-stored-x", "direct")
        exchange(channel).declare()
        # Declared without arguments here: the limit is only known from storage.
        channel.queue_declare("policies-stored-limit")
        channel.queue_bind("policies-stored-limit", "policies-stored-x", "k")
        channel.state.queue_policies.pop("policies-stored-limit", None)
        producer = Producer(channel, exchange=exchange, routing_key="k")
        producer.publish("first")
        producer.publish("second")
        assert channel._size("policies-stored-limit") == 1
        assert Queue("policies-stored-limit")(channel).get(no_ack=True).payload == "first"
