"""Restore safety with many restorers, priority orders, health of the blocking connection."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from kombu import Connection, Exchange, Producer, Queue


def test_concurrent_restorers_restore_each_delivery_once(redis_url: str, uname: str, rclient: Any) -> None:
    q = Queue(uname, Exchange(uname + ".x"), routing_key=uname)
    with Connection(redis_url) as conn:
        q(conn.channel()).declare()
    # 200 deliveries of a consumer that died long ago, in Kombu's record format.
    old = time.time() - 100
    for i in range(200):
        env = {
            "body": json.dumps({"n": i}),
            "content-type": "application/json",
            "content-encoding": "utf-8",
            "headers": {},
            "properties": {
                "delivery_tag": f"{uname}-{i}",
                "priority": 0,
                "delivery_info": {"exchange": uname + ".x", "routing_key": uname},
            },
        }
        rclient.hset("unacked", f"{uname}-{i}", json.dumps([env, uname + ".x", uname]))
        rclient.zadd("unacked_index", {f"{uname}-{i}": old})
    opts = {"visibility_timeout": 10, "unacked_mutex_expire": 5}
    errors: list[BaseException] = []

    def restorer() -> None:
        try:
            with Connection(redis_url, transport_options=opts) as conn:
                conn.connect()
                q(conn.channel()).declare()
                for _ in range(20):
                    conn.transport.restore_visible(force=True)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=restorer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    items = [json.loads(json.loads(m)["body"])["n"] for m in rclient.lrange(uname, 0, -1)]
    assert sorted(items) == list(range(200)), "a delivery was lost or restored twice"
    assert not [t for t in rclient.hkeys("unacked") if t.decode().startswith(uname)]
    rclient.delete(uname)


def test_silent_connection_is_detected_by_health_check(redis_url: str, uname: str) -> None:
    """A connection that stops answering (no RST, no FIN) raises instead of waiting forever."""
    from kombu import Consumer
    from kombu.testing.proxy import FaultProxy

    host, port = "127.0.0.1", int(redis_url.split(":")[2].split("/")[0])
    proxy = FaultProxy(host, port)
    proxy.start()
    try:
        q = Queue(uname, Exchange(uname + ".x"), routing_key=uname)
        opts = {"health_check_interval": 1, "brpop_timeout": 0.2}
        with Connection(proxy.url(redis_url), transport_options=opts) as conn:
            with Consumer(conn.channel(), [q], callbacks=[lambda b, m: m.ack()]):
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
                proxy.pause()
                deadline = time.monotonic() + 15
                raised = None
                while raised is None and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.3)
                    except TimeoutError:
                        pass
                    except conn.connection_errors as exc:
                        raised = exc
                assert raised is not None, "a silent connection went unnoticed"
                proxy.resume()
    finally:
        proxy.stop()


def test_consumed_expiring_queue_stays(redis_url: str, uname: str) -> None:
    """x-expires deletes an unused queue, not one a consumer is reading from."""
    from kombu import Consumer

    q = Queue(uname, Exchange(uname + ".x"), routing_key=uname, expires=1.0)
    with Connection(redis_url) as conn:
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: m.ack()]):
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
            q(conn.channel()).queue_declare(passive=True)  # still there
            assert conn.default_channel.link.call(
                "SISMEMBER", "_kombu.binding." + uname + ".x", f"{uname}\x06\x16\x06\x16{uname}"
            )


def test_forked_child_leaves_the_parents_connection_alone(redis_url: str, uname: str) -> None:
    import os

    q = Queue(uname, Exchange(uname + ".x"), routing_key=uname)
    with Connection(redis_url) as conn:
        bound = q(conn.channel())
        bound.declare()
        Producer(conn.channel(), exchange=q.exchange).publish("a", routing_key=uname)
        held = bound.get()
        assert held is not None
        pid = os.fork()
        if pid == 0:  # child: use and close its copy
            try:
                with Connection(redis_url) as c2:
                    c2.default_channel.link.call("PING")
                conn.release()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        held.ack()  # the parent's connection still works
        assert bound.queue_declare(passive=True).message_count == 0
        assert conn.default_channel.link.call("HEXISTS", "unacked", held.delivery_tag) == 0


def test_queues_are_served_round_robin(redis_url: str, uname: str) -> None:
    from kombu import Consumer

    queues = [Queue(f"{uname}.{k}", Exchange(uname + ".x"), routing_key=f"{uname}.{k}") for k in "ab"]
    got: list[str] = []
    with Connection(redis_url) as conn:
        p = Producer(conn.channel(), exchange=queues[0].exchange)
        for q in queues:
            q(conn.channel()).declare()
            for _ in range(5):
                p.publish(q.name, routing_key=q.routing_key)
        with Consumer(conn.channel(), queues, callbacks=[lambda b, m: (got.append(b), m.ack())], prefetch_count=1):
            deadline = time.monotonic() + 5
            while len(got) < 4 and time.monotonic() < deadline:
                conn.drain_events(timeout=1)
        for q in queues:
            q(conn.channel()).delete()
    assert sorted(got[:4]) == sorted([queues[0].name, queues[1].name] * 2)
