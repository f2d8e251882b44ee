"""Issue 5's features on the real RabbitMQ, on both transports (``url`` fixture)."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import fresh

TIMEOUT = 10.0

HEADERS: dict[str, Any] = {
    "text": "héllo ✓",
    "int": 42,
    "big": 2**40,
    "negative": -7,
    "float": 1.5,
    "bool": True,
    "none": None,
    "decimal": Decimal("3.14"),
    "stamp": datetime(2026, 11, 27, 5, 0, 0),
    "list": [1, "two", [3.5, False]],
    "nested": {"a": {"b": ["c", {"d": 1}]}},
}

PROPERTIES: dict[str, Any] = {
    "priority": 7,
    "correlation_id": "corr-1",
    "reply_to": "replies",
    "message_id": "msg-1",
    "timestamp": 1764219600,
    "type": "kind",
    "user_id": "guest",
    "app_id": "tests",
}


def drain_until(conn: Connection, done: Any, timeout: float = TIMEOUT) -> None:
    """Drain ``conn`` until ``done()`` (bounded, so a broken transport fails, not hangs)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the broker")
        try:
            conn.drain_events(timeout=0.5)
        except TimeoutError:
            pass


def get_one(conn: Connection, queue: Queue, timeout: float = TIMEOUT, **kwargs: Any) -> Any:
    """``queue.get`` until a message comes (bounded)."""
    bound = queue(conn.default_channel)
    deadline = time.monotonic() + timeout
    while True:
        message = bound.get(**kwargs)
        if message is not None:
            return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no message on {queue.name}")
        time.sleep(0.05)


def depth(conn: Connection, queue: Queue) -> int:
    return int(queue(conn.default_channel).queue_declare(passive=True)[1])


def setup_queue(conn: Connection, names: list[str], **queue_kwargs: Any) -> Queue:
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    queue = Queue(fresh(names), exchange, "key", durable=False, **queue_kwargs)
    queue(conn.default_channel).declare()
    return queue


# -- properties --------------------------------------------------------------------------
def test_every_property_round_trips_exactly(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names, max_priority=10)
        Producer(conn.default_channel).publish(
            {"x": 1},
            exchange=queue.exchange,
            routing_key="key",
            headers=dict(HEADERS),
            expiration=60,
            delivery_mode=2,
            **PROPERTIES,
        )
        message = get_one(conn, queue)
        assert message.payload == {"x": 1}
        props = message.properties
        assert props["content_type"] == "application/json"
        assert props["content_encoding"] == "utf-8"
        assert props["delivery_mode"] == 2
        assert props["expiration"] == "60000"
        for key, value in PROPERTIES.items():
            assert props[key] == value, key
        assert message.headers == HEADERS
        assert props["application_headers"] == HEADERS
        assert message.delivery_info["exchange"] == queue.exchange.name
        assert message.delivery_info["routing_key"] == "key"
        assert message.delivery_info["redelivered"] is False
        message.ack()


def test_body_larger_than_a_frame_round_trips(url: str, names: list[str]) -> None:
    body = bytes(range(256)) * 2000  # 512000 bytes > frame_max (131072)
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        Producer(conn.default_channel).publish(
            body,
            exchange=queue.exchange,
            routing_key="key",
            content_type="application/data",
            content_encoding="binary",
        )
        got: list[Any] = []
        with Consumer(
            conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())], accept=["application/data"]
        ):
            drain_until(conn, lambda: got)
        assert got == [body]


# -- routing ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_", "bind", "key", "headers", "routed"),
    [
        ("direct", {"routing_key": "a"}, "a", None, True),
        ("direct", {"routing_key": "a"}, "b", None, False),
        ("topic", {"routing_key": "stock.#"}, "stock", None, True),
        ("topic", {"routing_key": "stock.*.nyse"}, "stock.ibm.nyse", None, True),
        ("topic", {"routing_key": "stock.*.nyse"}, "stock.nyse", None, False),
        ("fanout", {"routing_key": "ignored"}, "anything", None, True),
        ("headers", {"arguments": {"x-match": "all", "a": "1", "b": "2"}}, "", {"a": "1", "b": "2"}, True),
        ("headers", {"arguments": {"x-match": "all", "a": "1", "b": "2"}}, "", {"a": "1"}, False),
        ("headers", {"arguments": {"x-match": "any", "a": "1", "b": "2"}}, "", {"a": "1"}, True),
    ],
)
def test_exchange_types(
    url: str, names: list[str], type_: str, bind: dict[str, Any], key: str, headers: dict[str, Any] | None, routed: bool
) -> None:
    with Connection(url) as conn:
        exchange = Exchange(fresh(names, type_), type_, durable=False)
        queue = Queue(
            fresh(names),
            exchange,
            durable=False,
            routing_key=bind.get("routing_key", ""),
            binding_arguments=bind.get("arguments"),
        )
        queue(conn.default_channel).declare()
        Producer(conn.default_channel).publish({"k": key}, exchange=exchange, routing_key=key, headers=headers or {})
        marker = Producer(conn.default_channel)
        marker.publish("end", exchange="", routing_key=queue.name)  # default exchange
        got = []
        bound = queue(conn.default_channel)
        deadline = time.monotonic() + TIMEOUT
        while "end" not in got and time.monotonic() < deadline:
            message = bound.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
            else:
                got.append(message.payload)
        assert ({"k": key} in got) is routed
        assert got[-1] == "end"


def test_exchange_to_exchange_binding(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        ch = conn.default_channel
        source = Exchange(fresh(names, "src"), "topic", durable=False)
        dest = Exchange(fresh(names, "dst"), "fanout", durable=False)
        source(ch).declare()
        dest(ch).declare()
        dest(ch).bind_to(source, routing_key="a.*")
        queue = Queue(fresh(names), dest, durable=False)
        queue(ch).declare()
        Producer(ch).publish("through", exchange=source, routing_key="a.b")
        assert get_one(conn, queue, no_ack=True).payload == "through"
        dest(ch).unbind_from(source, routing_key="a.*")
        Producer(ch).publish("blocked", exchange=source, routing_key="a.b")
        Producer(ch).publish("end", exchange="", routing_key=queue.name)
        assert get_one(conn, queue, no_ack=True).payload == "end"


def test_passive_declare_of_missing_entities_raises_channel_error(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        missing = Queue(fresh(names), Exchange(fresh(names, "x")), "k")
        with pytest.raises(conn.channel_errors):
            missing(conn.channel()).queue_declare(passive=True)
        with pytest.raises(conn.channel_errors):
            missing.exchange(conn.channel()).declare(passive=True)


def test_nowait_declarations(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        ch = conn.channel()
        queue = Queue(fresh(names), Exchange(fresh(names, "x"), durable=False), "k", durable=False)
        queue(ch).declare(nowait=True)
        # Same channel: the broker handles its methods in order.
        assert queue(ch).queue_declare(passive=True)[1] == 0


# -- queue arguments -------------------------------------------------------------------
def test_message_ttl_dead_letters_with_routing_key(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        dlx = Exchange(fresh(names, "dlx"), "direct", durable=False)
        dead = Queue(fresh(names, "dead"), dlx, "expired", durable=False)
        dead(conn.default_channel).declare()
        queue = setup_queue(
            conn,
            names,
            message_ttl=0.05,
            queue_arguments={"x-dead-letter-exchange": dlx.name, "x-dead-letter-routing-key": "expired"},
        )
        Producer(conn.default_channel).publish("ttl", exchange=queue.exchange, routing_key="key")
        message = get_one(conn, dead)
        assert message.payload == "ttl"
        assert message.headers["x-death"][0]["reason"] == "expired"
        message.ack()


def test_max_length_drops_head_and_reject_publish_nacks(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names, max_length=2)
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        for i in range(3):
            producer.publish(i)
        assert get_one(conn, queue, no_ack=True).payload == 1
    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        queue = setup_queue(conn, names, max_length=1, queue_arguments={"x-overflow": "reject-publish"})
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        producer.publish("fits")
        with pytest.raises(Exception) as info:
            producer.publish("nacked")
        assert "nack" in type(info.value).__name__.lower()


def test_max_length_bytes_and_expires_are_accepted(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names, max_length_bytes=1000, expires=60)
        args = queue(conn.default_channel).channel.prepare_queue_arguments(
            {}, max_length_bytes=1000, expires=60, message_ttl=1.5, max_priority=3, max_length=2
        )
        assert args == {
            "x-max-length-bytes": 1000,
            "x-expires": 60000,
            "x-message-ttl": 1500,
            "x-max-priority": 3,
            "x-max-length": 2,
        }
        assert depth(conn, queue) == 0


def test_priorities_deliver_highest_first(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names, max_priority=10)
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        for prio in (1, 9, 5):
            producer.publish(prio, priority=prio)
        got = [get_one(conn, queue, no_ack=True).payload for _ in range(3)]
        assert got == [9, 5, 1]


def test_single_active_consumer(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names, queue_arguments={"x-single-active-consumer": True})
        first: list[Any] = []
        second: list[Any] = []
        c1 = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (first.append(b), m.ack())])
        c2 = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (second.append(b), m.ack())])
        with c1, c2:
            producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
            for i in range(6):
                producer.publish(i)
            drain_until(conn, lambda: len(first) + len(second) >= 6)
        assert sorted(first + second) == list(range(6))
        assert not first or not second


# -- quorum and stream queues ------------------------------------------------------------
def test_quorum_queue_with_global_qos_consumes_per_consumer(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        exchange = Exchange(fresh(names, "x"), "direct", durable=True)
        queue = Queue(fresh(names), exchange, "key", durable=True, queue_arguments={"x-queue-type": "quorum"})
        queue(conn.default_channel).declare()
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        for i in range(5):
            producer.publish(i)
        got: list[Any] = []
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.qos(prefetch_count=2, apply_global=True)
        with consumer:
            drain_until(conn, lambda: len(got) >= 5)
        assert got == list(range(5))


def test_stream_queue_consumes_from_first_offset(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        exchange = Exchange(fresh(names, "x"), "direct", durable=True)
        queue = Queue(
            fresh(names),
            exchange,
            "key",
            durable=True,
            queue_arguments={"x-queue-type": "stream"},
            consumer_arguments={"x-stream-offset": "first"},
        )
        queue(conn.default_channel).declare()
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        for i in range(3):
            producer.publish(i)
        got: list[Any] = []
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.qos(prefetch_count=10)
        with consumer:
            drain_until(conn, lambda: len(got) >= 3)
        assert got == [0, 1, 2]


# -- confirms and returns ----------------------------------------------------------------
def test_confirm_publish_raises_for_a_missing_exchange(url: str, names: list[str]) -> None:
    options = {"confirm_publish": True, "confirm_timeout": 5}
    with Connection(url, transport_options=options) as conn:
        queue = setup_queue(conn, names)
        producer = Producer(conn.channel(), exchange=queue.exchange, routing_key="key")
        producer.publish("confirmed")
        assert depth(conn, queue) == 1
        missing = Exchange(fresh(names, "missing"), "direct")
        with pytest.raises(conn.channel_errors):
            Producer(conn.channel()).publish("lost", exchange=missing.name, routing_key="k")


def test_confirm_publish_from_url_query(names: list[str]) -> None:
    from .conftest import AMQP_URL

    with Connection(AMQP_URL + "?confirm_publish=true") as conn:
        queue = setup_queue(conn, names)
        Producer(conn.default_channel).publish("c", exchange=queue.exchange, routing_key="key")
        assert conn.default_channel.connection.confirm_publish is True
        assert depth(conn, queue) == 1


@pytest.mark.parametrize("confirm", [False, True])
def test_mandatory_unroutable_message_reaches_on_return(url: str, names: list[str], confirm: bool) -> None:
    returned: list[tuple[Any, ...]] = []

    def on_return(exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        returned.append((exc, exchange, routing_key, message))

    with Connection(url, transport_options={"confirm_publish": confirm}) as conn:
        exchange = Exchange(fresh(names, "x"), "direct", durable=False)
        producer = Producer(conn.default_channel, exchange=exchange, on_return=on_return)
        producer.publish({"r": 1}, routing_key="nowhere", mandatory=True, declare=[exchange])
        drain_until(conn, lambda: returned)
        exc, ex_name, key, message = returned[0]
        assert ex_name == exchange.name and key == "nowhere"
        assert getattr(exc, "reply_code", None) == 312 or "312" in str(exc)
        assert message.body in (b'{"r": 1}', '{"r": 1}')


# -- acknowledgements --------------------------------------------------------------------
def test_reject_requeue_and_recover_redeliver(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        Producer(conn.default_channel).publish("m", exchange=queue.exchange, routing_key="key")
        first = get_one(conn, queue)
        first.reject(requeue=True)
        again = get_one(conn, queue)
        assert again.payload == "m" and again.delivery_info["redelivered"] is True
        assert again.delivery_info["message_count"] == 0
        conn.default_channel.basic_recover(requeue=True)
        third = get_one(conn, queue)
        assert third.payload == "m"
        third.ack()
        assert queue(conn.default_channel).get() is None


def test_nack_requeues(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        Producer(conn.default_channel).publish("n", exchange=queue.exchange, routing_key="key")
        message = get_one(conn, queue)
        conn.default_channel.basic_nack(message.delivery_tag, multiple=False, requeue=True)
        again = get_one(conn, queue)
        assert again.delivery_info["redelivered"] is True
        again.reject(requeue=False)
        assert depth(conn, queue) == 0


def test_prefetch_count_limits_unacked_deliveries(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        for i in range(5):
            producer.publish(i)
        held: list[Any] = []
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: held.append(m)])
        consumer.qos(prefetch_count=2)
        with consumer:
            drain_until(conn, lambda: len(held) >= 2)
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.5)
            assert len(held) == 2
            held[0].ack()
            drain_until(conn, lambda: len(held) >= 3)
            for message in held[1:]:
                message.ack()


# -- consumer cancel notifications ----------------------------------------------------------
def test_deleting_the_queue_does_not_leave_the_consumer_silently_dead(url: str, names: list[str]) -> None:
    with Connection(url) as conn, Connection(url) as other:
        queue = setup_queue(conn, names)
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: m.ack()])
        consumer.consume()
        queue(other.default_channel).delete()
        with pytest.raises(conn.connection_errors + conn.channel_errors):
            drain_until(conn, lambda: False, timeout=TIMEOUT)


def test_broker_cancel_calls_on_cancel(url: str, names: list[str]) -> None:
    cancelled: list[str] = []
    with Connection(url) as conn, Connection(url) as other:
        queue = setup_queue(conn, names)
        channel = conn.channel()
        tag = channel.basic_consume(queue.name, callback=lambda m: None, on_cancel=cancelled.append)
        queue(other.default_channel).delete()
        drain_until(conn, lambda: cancelled)
        assert cancelled == [tag]


# -- connection settings -------------------------------------------------------------------
def test_heartbeat_is_negotiated_and_checked(url: str) -> None:
    with Connection(url, heartbeat=4) as conn:
        conn.connect()
        assert conn.get_heartbeat_interval() == 4
        for _ in range(3):
            conn.heartbeat_check(rate=2)
        assert conn.connected


def test_refused_connection_raises_a_connection_error(url: str) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    scheme = url.split("://", 1)[0]
    conn = Connection(f"{scheme}://guest:guest@127.0.0.1:{port}//", connect_timeout=2)
    with pytest.raises(conn.connection_errors):
        conn.connect()


def test_wrong_password_and_vhost_are_connection_errors(url: str) -> None:
    scheme = url.split("://", 1)[0]
    bad = Connection(f"{scheme}://guest:wrong@127.0.0.1:5672//", connect_timeout=5)
    with pytest.raises(Exception) as info:
        bad.connect()
    assert "wrong" not in repr(bad) and "wrong" not in bad.as_uri()
    assert isinstance(info.value, bad.connection_errors + (bad.connection_errors[0],)) or info.value
    vhost = Connection(f"{scheme}://guest:guest@127.0.0.1:5672/no-such-vhost", connect_timeout=5)
    with pytest.raises(Exception):
        vhost.connect()


def test_amqps_scheme_turns_tls_on_with_the_tls_port() -> None:
    conn = Connection("amqps://guest:guest@127.0.0.1//")
    transport = conn.transport
    assert conn.ssl is True
    assert transport.default_connection_params["port"] == 5671


def test_event_loop_consumes_and_acks_without_blocking(url: str, names: list[str]) -> None:
    from kombu.asynchronous import Hub

    with Connection(url) as conn, Connection(url) as producer_conn:
        queue = setup_queue(conn, names)
        got: list[Any] = []
        hub = Hub()
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append(b), m.ack())])
        consumer.qos(prefetch_count=1)
        consumer.consume()
        conn.register_with_event_loop(hub)
        producer = Producer(producer_conn.default_channel, exchange=queue.exchange, routing_key="key")
        for i in range(20):
            producer.publish(i)
        deadline = time.monotonic() + TIMEOUT
        while len(got) < 20 and time.monotonic() < deadline:
            hub.run_once()
        conn.transport.unregister_from_event_loop(conn.connection, hub)
        hub.close()
        assert got == list(range(20))
        consumer.cancel()
        assert depth(conn, queue) == 0  # every ack reached the broker


def test_event_loop_runs_acks_scheduled_from_another_thread(url: str, names: list[str]) -> None:
    """Kombu's test_ack_from_another_thread: ``hub.call_soon`` from a timer thread."""
    import threading

    from kombu.asynchronous import Hub

    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        for i in range(5):
            producer.publish(i)
        acked: list[Any] = []
        hub = Hub()

        def ack(message: Any) -> None:
            message.ack()
            acked.append(message.payload)

        def later(body: Any, message: Any) -> None:
            threading.Timer(0.05, hub.call_soon, (ack, message)).start()

        consumer = Consumer(conn.channel(), [queue], callbacks=[later], prefetch_count=1)
        with consumer:
            conn.register_with_event_loop(hub)
            try:
                deadline = time.monotonic() + TIMEOUT
                while len(acked) < 5 and time.monotonic() < deadline:
                    hub.run_once()
            finally:
                conn.transport.unregister_from_event_loop(conn.connection, hub)
                hub.close()
        assert acked == list(range(5))  # prefetch 1: each ack let the next one in
        assert depth(conn, queue) == 0


def test_consume_a_long_stream_with_prefetch_and_acks(url: str, names: list[str]) -> None:
    """Every drain_events either delivers or raises socket.timeout after its timeout."""
    count = 3000
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        producer = Producer(conn.default_channel, exchange=queue.exchange, routing_key="key")
        for i in range(count):
            producer.publish({"seq": i})
        got: list[int] = []
        consumer = Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (m.ack(), got.append(b["seq"]))])
        consumer.qos(prefetch_count=100)
        with consumer:
            while len(got) < count:
                conn.drain_events(timeout=TIMEOUT)  # a stall raises socket.timeout
        assert got == list(range(count))
    with Connection(url) as other:
        # Unacked messages would be back in the queue once ``conn`` closed.
        assert depth(other, queue) == 0


def test_publish_with_a_write_timeout(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        queue = setup_queue(conn, names)
        Producer(conn.default_channel).publish({"t": 1}, exchange=queue.exchange, routing_key="key", timeout=5)
        assert get_one(conn, queue, no_ack=True).payload == {"t": 1}
