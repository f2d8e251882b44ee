"""kombu.resource and kombu.pools on memory://."""

from __future__ import annotations

import os
import threading

import pytest
from kombu import Connection, Exchange, Queue, pools
from kombu.exceptions import (
    ChannelLimitExceeded,
    ConnectionLimitExceeded,
    LimitExceeded,
)
from kombu.pools import connections, producers
from kombu.resource import ChannelPool, ConnectionPool, Resource
from kombu.utils.uuid import uuid


@pytest.fixture
def conn():
    # a unique transport option gives each test its own pool group entry
    connection = Connection("memory://", transport_options={"test": uuid()})
    yield connection
    connection.close()


def test_connection_pool_runs_dry_and_refills(conn):
    pool = conn.Pool(limit=2)
    assert isinstance(pool, ConnectionPool) and isinstance(pool, Resource)
    a = pool.acquire()
    b = pool.acquire()
    assert a is not b and a is not conn
    with pytest.raises(ConnectionLimitExceeded):
        pool.acquire()
    with pytest.raises(LimitExceeded):
        pool.acquire(block=True, timeout=0.01)
    a.release()
    c = pool.acquire()
    assert c is a  # reused, not a new connection
    c.release()
    b.release()


def test_pooled_connection_is_usable_and_released_by_with(conn):
    pool = conn.Pool(limit=1)
    queue = Queue(f"pool-{uuid()}")
    with pool.acquire() as pooled:
        queue(pooled.default_channel).declare()
        pooled.Producer().publish("hi", routing_key=queue.name)
    with pool.acquire() as pooled:  # the with block above gave it back
        message = queue(pooled.default_channel).get(no_ack=True)
        assert message.payload == "hi"


def test_blocking_acquire_waits_for_release_from_another_thread(conn):
    pool = conn.Pool(limit=1)
    held = pool.acquire()
    acquired = []
    started = threading.Event()

    def worker():
        started.set()
        acquired.append(pool.acquire(block=True, timeout=30))

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    held.release()
    thread.join(30)
    assert acquired == [held]


def test_pool_is_thread_safe(conn):
    pool = conn.Pool(limit=3)
    errors = []
    in_use = set()
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(50):
                c = pool.acquire(block=True, timeout=30)
                with lock:
                    assert id(c) not in in_use, "one connection handed out twice"
                    in_use.add(id(c))
                with lock:
                    in_use.discard(id(c))
                c.release()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(pool._dirty) == 0


def test_channel_pool(conn):
    pool = conn.ChannelPool(limit=2)
    assert isinstance(pool, ChannelPool)
    ch1 = pool.acquire()
    ch2 = pool.acquire()
    assert ch1 is not ch2
    assert ch1.connection.client is conn
    with pytest.raises(ChannelLimitExceeded):
        pool.acquire()
    ch1.release()
    assert pool.acquire() is ch1


def test_unlimited_pool_creates_and_closes(conn):
    pool = conn.Pool(limit=None)
    a = pool.acquire()
    b = pool.acquire()
    assert a is not b
    a.default_channel  # noqa: B018 - connects
    a.release()
    assert a._closed


def test_resize_and_force_close(conn):
    pool = conn.Pool(limit=2)
    c = pool.acquire()
    with pytest.raises(RuntimeError):
        pool.resize(1)  # in use: cannot shrink
    pool.resize(1, force=True)
    assert pool.limit == 1
    pool.limit = 3
    assert [pool.acquire() for _ in range(3)]
    pool.force_close_all()
    with pytest.raises(RuntimeError):
        pool.acquire()
    del c


def test_replace_drops_a_defective_resource(conn):
    pool = conn.Pool(limit=1)
    bad = pool.acquire()
    pool.replace(bad)
    fresh = pool.acquire()
    assert fresh is not bad


def test_groups_share_pools_per_connection_parameters(conn):
    same = Connection("memory://", transport_options=dict(conn.transport_options))
    other = Connection("memory://", transport_options={"test": uuid()})
    assert connections[conn] is connections[same]
    assert connections[conn] is not connections[other]
    assert producers[conn] is producers[same]
    assert producers[conn].connections is connections[conn]
    assert connections[conn].limit == pools.get_limit()


def test_producer_pool_publishes_and_returns_connections(conn):
    queue = Queue(f"prod-{uuid()}", Exchange(f"prod-{uuid()}"), "rk")
    pool = producers[conn]
    with pool.acquire(block=True) as producer:
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key="rk", declare=[queue])
        assert len(connections[conn]._dirty) == 1
    assert len(connections[conn]._dirty) == 0
    with pool.acquire(block=True) as producer:  # revived on a pooled connection again
        producer.publish({"n": 2}, exchange=queue.exchange, routing_key="rk")
    with Connection("memory://") as c:
        bound = queue(c.default_channel)
        assert [bound.get(no_ack=True).payload for _ in range(2)] == [{"n": 1}, {"n": 2}]


def test_set_limit_resizes_and_reset_forgets(conn):
    previous = pools.get_limit()
    pool = connections[conn]
    try:
        assert pools.set_limit(3) == 3
        assert pools.get_limit() == 3
        assert pool.limit == 3
        got = [pool.acquire() for _ in range(3)]
        with pytest.raises(ConnectionLimitExceeded):
            pool.acquire()
        for c in got:
            c.release()
    finally:
        pools.set_limit(previous)
    pools.reset()
    assert connections[conn] is not pool
    with pytest.raises(RuntimeError):
        pool.acquire()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_fresh_pools(conn):
    parent_pool = connections[conn]
    held = parent_pool.acquire()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            child_pool = connections[conn]
            fresh = child_pool is not parent_pool and len(parent_pool._dirty) == 0
            os.write(w, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.close(w)
    result = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert result == b"1"
    assert connections[conn] is parent_pool  # the parent keeps its pools
    held.release()


def test_producer_pool_producer_class(conn):
    from kombu import Producer
    from kombu.pools import ProducerPool

    class MyProducer(Producer):
        pass

    class MyPool(ProducerPool):
        Producer = MyProducer

    pool = MyPool(connections[conn], limit=1)
    with pool.acquire() as producer:
        assert isinstance(producer, MyProducer)
    other = ProducerPool(connections[conn], limit=1, Producer=MyProducer)
    with other.acquire() as producer:
        assert type(producer) is MyProducer
    with producers[conn].acquire() as producer:
        assert type(producer) is Producer


def test_pooled_connection_left_by_an_exception_goes_back_closed():
    from kombu import Connection
    from kombu.connection import ConnectionPool

    pool = ConnectionPool(Connection("memory://"), limit=1)
    try:
        with pool.acquire(block=True) as conn:
            conn.connect()
            assert conn.connected
            raise KeyError("boom")
    except KeyError:
        pass
    with pool.acquire(block=True, timeout=1) as again:
        assert again is conn and not again.connected
        again.connect()
    with pool.acquire(block=True, timeout=1) as third:
        assert third.connected  # a clean exit returns it open
