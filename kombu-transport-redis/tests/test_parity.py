"""Kombu 5.7 parity on redis://: error classes, priority order, the event loop."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.asynchronous import Hub

from .conftest import free_port


def test_refused_connection_raises_a_class_in_connection_errors() -> None:
    from kombu.transport.redis import Transport

    conn = Connection(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=2)
    with pytest.raises(Exception) as info:
        conn.connect()
    assert info.type in Transport.connection_errors
    import redis

    assert isinstance(info.value, redis.exceptions.ConnectionError)


def test_wrong_credentials_raise_redis_authentication_error(redis_url: str) -> None:
    import redis

    url = redis_url.replace("redis://", "redis://wrong_user:wrong_password@", 1)
    with pytest.raises(redis.exceptions.AuthenticationError) as info:
        Connection(url, connect_timeout=2).connect()
    assert "wrong_password" not in str(info.value)
    assert info.type in Connection(url).transport.connection_errors


def test_get_redis_error_classes_has_kombus_shape() -> None:
    import redis
    from kombu.transport.redis import get_redis_ConnectionError, get_redis_error_classes

    errors = get_redis_error_classes()
    connection_errors, channel_errors = errors
    assert errors.connection_errors is connection_errors
    for cls in (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.AuthenticationError,
        redis.exceptions.BusyLoadingError,
        OSError,
        KeyError,
    ):
        assert cls in connection_errors
    for cls in (redis.exceptions.DataError, redis.exceptions.InvalidResponse, redis.exceptions.ResponseError):
        assert cls in channel_errors
    assert get_redis_ConnectionError() is redis.exceptions.ConnectionError


def _drain_priorities(redis_url: str, name: str, options: dict[str, Any]) -> list[int]:
    queue = Queue(name, Exchange(name), routing_key=name, max_priority=10)
    with Connection(redis_url, transport_options=options) as conn:
        bound = queue(conn.channel())
        bound.declare()
        producer = Producer(conn.channel(), exchange=queue.exchange)
        for priority in (5, 0, 9):
            producer.publish({"p": priority}, routing_key=name, priority=priority)
        got = []
        while (message := bound.get()) is not None:
            got.append(message.payload["p"])
            message.ack()
        bound.delete()
        return got


def test_default_priority_order_is_kombus_lowest_number_first(redis_url: str, uname: str) -> None:
    assert _drain_priorities(redis_url, uname, {}) == [0, 5, 9]


def test_priority_order_amqp_option_serves_highest_first(redis_url: str, uname: str) -> None:
    assert _drain_priorities(redis_url, uname, {"priority_order": "amqp"}) == [9, 5, 0]


def test_ack_scheduled_with_hub_call_soon_from_another_thread(redis_url: str, uname: str) -> None:
    queue = Queue(uname, Exchange(uname), routing_key=uname)
    acked: list[Any] = []
    hub = Hub()

    def ack(message: Any) -> None:
        message.ack()
        acked.append(message.payload)

    def callback(body: Any, message: Any) -> None:
        threading.Timer(0.1, hub.call_soon, (ack, message)).start()

    with Connection(redis_url) as conn:
        with conn.channel() as channel:
            producer = Producer(channel)
            for body in range(2):
                producer.publish(body, exchange=queue.exchange, routing_key=uname, declare=[queue])
        consumer = Consumer(conn, [queue], callbacks=[callback], prefetch_count=1)
        with consumer:
            try:
                conn.register_with_event_loop(hub)
                deadline = time.monotonic() + 10
                while len(acked) < 2 and time.monotonic() < deadline:
                    hub.run_once()
                assert acked == [0, 1]
            finally:
                hub.close()
                queue(consumer.channel).delete()


def test_drain_events_returns_when_a_fanout_subscription_starts(redis_url: str, uname: str) -> None:
    """As Kombu 5: the first drain of a fanout consumer returns once subscribed."""
    exchange = Exchange(f"{uname}.fan", "fanout")
    queues = [Queue(f"{uname}.{i}", exchange=exchange) for i in (1, 2)]
    with Connection(redis_url) as conn:
        for queue in queues:
            with Consumer(conn, [queue], callbacks=[lambda body, message: None]):
                conn.drain_events(timeout=5)  # no socket.timeout: subscribed
        received: list[Any] = []
        with Consumer(conn, queues, callbacks=[lambda body, message: (received.append(body), message.ack())]):
            conn.drain_events(timeout=5)
            Producer(conn.channel()).publish("hello", exchange=exchange)
            deadline = time.monotonic() + 10
            while len(received) < 2 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
        assert received == ["hello", "hello"]
