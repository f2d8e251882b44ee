"""At-least-once publishing: a publish that returned survives a server kill or a TCP cut.

A private redis-server (append-only file on) is SIGKILLed and restarted, or
the TCP connection is cut through :class:`kombu.testing.proxy.FaultProxy`,
in the middle of a burst of numbered publishes made through each retrying
path Kombu offers. Every number must then be in the queue; duplicates are
allowed (and printed), losses are not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue, pools
from kombu.testing.proxy import FaultProxy

from .conftest import PrivateRedis

N = 2000
POLICY = {"max_retries": 100, "interval_start": 0.05, "interval_step": 0.05, "interval_max": 0.2}


def _stored_ids(server: PrivateRedis, queue: str) -> list[int]:
    import redis

    client = redis.Redis(port=server.port)
    try:
        return [int(json.loads(json.loads(raw)["body"])) for raw in client.lrange(queue, 0, -1)]
    finally:
        client.close()


@contextmanager
def _fault_setup(server: PrivateRedis, fault: str) -> Iterator[tuple[str, Callable[[], None]]]:
    if fault == "kill":

        def kill_restart() -> None:
            server.kill()
            server.start()

        yield server.url, kill_restart
        return
    with FaultProxy("127.0.0.1", server.port) as proxy:
        yield proxy.url(server.url), lambda: proxy.cut()


def _publisher(conn: Connection, path: str, queue: Queue) -> Callable[[int], None]:
    kwargs = {"exchange": queue.exchange, "routing_key": queue.routing_key, "declare": [queue]}
    if path == "retry":
        producer = conn.Producer()
        return lambda i: producer.publish(i, retry=True, retry_policy=POLICY, **kwargs)
    if path == "ensure":
        producer = conn.Producer()
        publish = conn.ensure(producer, producer.publish, **POLICY)
        return lambda i: publish(i, **kwargs)
    if path == "autoretry":
        made: dict[int, Any] = {}

        def send(i: int, channel: Any = None) -> None:
            producer = made.get(id(channel))
            if producer is None:
                made.clear()
                producer = made[id(channel)] = conn.Producer(channel)
            producer.publish(i, **kwargs)

        publish = conn.autoretry(send, **POLICY)
        return lambda i: publish(i)
    assert path == "pool"

    def pooled(i: int) -> None:
        with pools.producers[conn].acquire(block=True, timeout=10) as producer:
            producer.publish(i, retry=True, retry_policy=POLICY, **kwargs)

    return pooled


@pytest.mark.parametrize("fault", ["kill", "cut"])
@pytest.mark.parametrize("path", ["retry", "ensure", "autoretry", "pool"])
def test_no_publish_lost_across_a_fault(aof_redis: PrivateRedis, uname: str, fault: str, path: str) -> None:
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    with _fault_setup(aof_redis, fault) as (url, inject):
        conn = Connection(url, connect_timeout=2)
        publish = _publisher(conn, path, queue)
        for i in range(N):
            if i == N // 2:
                inject()
            publish(i)
        if path == "pool":
            pools.reset()  # collects the pooled connections: their window must go out
        conn.release()
    ids = _stored_ids(aof_redis, uname)
    missing = set(range(N)) - set(ids)
    print(f"{fault}/{path}: stored {len(ids)}, duplicates {len(ids) - len(set(ids))}")
    assert not missing, f"{len(missing)} publishes lost, e.g. {sorted(missing)[:5]}"


def test_collect_hands_the_window_to_the_next_transport(aof_redis: PrivateRedis, uname: str) -> None:
    """``Connection.collect()`` keeps the unanswered publishes; the next connect sends them."""
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    with FaultProxy("127.0.0.1", aof_redis.port) as proxy:
        conn = Connection(proxy.url(aof_redis.url), connect_timeout=2, transport_options={"publish_confirm_after": 60})
        producer = conn.Producer()
        producer.publish(-1, exchange=queue.exchange, routing_key=uname, declare=[queue])
        proxy.pause()
        for i in range(200):  # pipelined into a connection that forwards nothing
            producer.publish(i, exchange=queue.exchange, routing_key=uname)
        proxy.cut()  # ...and never will: the 200 exist only in the window
        conn.collect()
        proxy.resume()
        conn.ensure_connection(max_retries=3)
        conn.release()
    ids = set(_stored_ids(aof_redis, uname))
    assert set(range(200)) <= ids


def test_release_after_collect_sends_the_window(aof_redis: PrivateRedis, uname: str) -> None:
    """A collected connection that is only released still delivers its window."""
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    with FaultProxy("127.0.0.1", aof_redis.port) as proxy:
        conn = Connection(proxy.url(aof_redis.url), connect_timeout=2, transport_options={"publish_confirm_after": 60})
        producer = conn.Producer()
        producer.publish(-1, exchange=queue.exchange, routing_key=uname, declare=[queue])
        proxy.pause()
        for i in range(100):
            producer.publish(i, exchange=queue.exchange, routing_key=uname)
        proxy.cut()
        conn.collect()
        proxy.resume()
        conn.release()  # one attempt to re-send, then wait for the replies
    assert set(range(100)) <= set(_stored_ids(aof_redis, uname))
