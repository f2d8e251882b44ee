"""At-least-once on CouchDB: claims, leases, requeue, dead consumers (beyond the kit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import URL

FAST = {"visibility_timeout": 1.0, "polling_interval": 0.2}


@pytest.fixture
def queue() -> Iterator[Queue]:
    name = f"rel-{uuid4().hex[:10]}"
    q = Queue(name, Exchange(name, "direct"), routing_key=name)
    yield q
    with Connection(URL) as conn:
        q(conn.channel()).delete()


def publish(queue: Queue, *bodies: Any, **kwargs: Any) -> None:
    with Connection(URL) as conn:
        producer = Producer(conn.channel(), exchange=queue.exchange, routing_key=queue.routing_key)
        for body in bodies:
            producer.publish(body, declare=[queue], **kwargs)


def get(conn: Connection, queue: Queue, timeout: float = 10.0) -> Any:
    bound = queue(conn.channel())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = bound.get()
        if message is not None:
            return message
        time.sleep(0.05)
    return None


def test_slow_consumer_keeps_its_lease(queue: Queue) -> None:
    publish(queue, "slow")
    with Connection(URL, transport_options=FAST) as slow, Connection(URL, transport_options=FAST) as other:
        message = get(slow, queue)
        assert message is not None and message.payload == "slow"
        time.sleep(3.5)  # three and a half visibility timeouts: renewed meanwhile
        assert queue(other.channel()).get() is None, "a held message went to another consumer"
        message.ack()
    with Connection(URL) as conn:
        assert queue(conn.channel()).get() is None


def test_sigkilled_consumer_messages_come_back(queue: Queue) -> None:
    publish(queue, "a", "b")
    script = textwrap.dedent(f"""
        import sys, time
        from kombu import Connection, Queue
        conn = Connection({URL!r}, transport_options={FAST!r})
        bound = Queue({queue.name!r})(conn.channel())
        got = []
        while len(got) < 2:
            m = bound.get()
            if m is not None:
                got.append(m)
        print("held", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        with Connection(URL, transport_options=FAST) as conn:
            assert queue(conn.channel()).get() is None, "claimed messages were visible"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            got = [get(conn, queue, timeout=15), get(conn, queue, timeout=15)]
            assert all(m is not None for m in got), "a dead consumer's message never came back"
            assert sorted(m.payload for m in got) == ["a", "b"]
            assert all(m.delivery_info.get("redelivered") for m in got)
            for m in got:
                m.ack()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_requeue_goes_back_to_the_head(queue: Queue) -> None:
    publish(queue, 1, 2, 3)
    with Connection(URL) as conn:
        first = get(conn, queue)
        assert first.payload == 1
        first.requeue()
        again = get(conn, queue)
        assert again.payload == 1 and again.delivery_info.get("redelivered")
        again.ack()
        rest = [get(conn, queue), get(conn, queue)]
        assert [m.payload for m in rest] == [2, 3]
        for m in rest:
            m.ack()


def test_reject_without_requeue_deletes(queue: Queue) -> None:
    publish(queue, "bad")
    with Connection(URL) as conn:
        message = get(conn, queue)
        message.reject()
    with Connection(URL) as conn:
        assert queue(conn.channel()).queue_declare(passive=True).message_count == 0
        assert queue(conn.channel()).get() is None


def test_competing_consumers_never_share_a_message(queue: Queue) -> None:
    total = 60
    publish(queue, *range(total))
    seen: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def consume() -> None:
        try:
            _consume()
        except BaseException as exc:
            errors.append(exc)

    def _consume() -> None:
        with Connection(URL) as conn:

            def on_message(body: int, message: Any) -> None:
                with lock:
                    seen.append(body)
                message.ack()

            with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=5):
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with lock:
                        if len(seen) >= total:
                            return
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(seen) == list(range(total)), "a message was lost or delivered twice"


def test_ack_after_lease_lost_leaves_the_new_claim_alone(queue: Queue) -> None:
    publish(queue, "contested")
    opts = {"visibility_timeout": 0.5, "lease_interval": 30}  # renewal never comes in time
    with Connection(URL, transport_options=opts) as first, Connection(URL) as second:
        stale = get(first, queue)
        assert stale is not None
        time.sleep(1.0)
        fresh = get(second, queue)
        assert fresh is not None and fresh.payload == "contested"
        stale.ack()  # its revision is stale and the claim not its own
        assert queue(first.channel()).get() is None
        fresh.requeue()  # still ours: released
        back = get(first, queue)
        assert back is not None and back.payload == "contested"
        back.ack()


def test_priorities_then_publish_order(queue: Queue) -> None:
    q = Queue(queue.name, queue.exchange, routing_key=queue.routing_key, max_priority=9)
    publish(q, "low-1", priority=1)
    publish(q, "high", priority=9)
    publish(q, "low-2", priority=1)
    with Connection(URL) as conn:
        got = [get(conn, q) for _ in range(3)]
        assert [m.payload for m in got] == ["high", "low-1", "low-2"]
        for m in got:
            m.ack()


def test_x_delay_header_delays_delivery(queue: Queue) -> None:
    with Connection(URL) as conn:
        producer = Producer(conn.channel(), exchange=queue.exchange, routing_key=queue.routing_key)
        published = time.time()
        producer.publish("later", headers={"x-delay": 2000}, declare=[queue])
        producer.publish("now")
    with Connection(URL) as conn:
        arrivals = []
        for _ in range(2):
            message = get(conn, queue, timeout=15)
            assert message is not None
            arrivals.append((message.payload, time.time()))
            message.ack()
    assert [body for body, _ in arrivals] == ["now", "later"]
    assert arrivals[1][1] - published >= 2.0, "a delayed message came early"


def test_idle_consumer_is_woken_by_the_changes_feed(queue: Queue) -> None:
    # polling_interval 60: only the changes feed can deliver within the bound.
    with Connection(URL, transport_options={"polling_interval": 60}) as conn:
        got: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            message.ack()

        with Consumer(conn.channel(), [queue], callbacks=[on_message]):
            try:
                conn.drain_events(timeout=1)  # idle: the feed is followed
            except TimeoutError:
                pass
            threading.Timer(0.5, publish, (queue, "wake")).start()
            conn.drain_events(timeout=20)
        assert got == ["wake"]


def test_binding_made_elsewhere_routes_at_once_with_a_warm_cache(queue: Queue) -> None:
    exchange = Exchange(f"{queue.name}-topic", "topic")
    with Connection(URL) as publisher, Connection(URL) as other:
        producer = Producer(publisher.channel(), exchange=exchange)
        producer.publish("unrouted", routing_key="a.b", declare=[exchange])  # table cached: empty
        bound = Queue(f"{queue.name}-t", exchange, routing_key="a.#")
        bound(other.channel()).declare()
        try:
            deadline = time.monotonic() + 10
            message = None
            while message is None and time.monotonic() < deadline:
                producer.publish("routed", routing_key="a.b")
                message = bound(other.channel()).get()
                time.sleep(0.05)
            assert message is not None and message.payload == "routed"
            message.ack()
        finally:
            bound(other.channel()).delete()
            exchange(other.channel()).delete()


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_publisher_feed_reports_only_topology_changes(queue: Queue) -> None:
    exchange = Exchange(f"{queue.name}-fan", "fanout")
    with Connection(URL) as publisher, Connection(URL) as other:
        producer = Producer(publisher.channel(), exchange=exchange)
        producer.publish("unrouted", declare=[exchange])  # the table is cached from here
        watcher = publisher.transport.watcher
        assert wait_for(lambda: watcher.ready)
        assert watcher.filtered, "a connection that consumes nothing follows only the epoch document"
        queue(other.channel()).declare()
        cache = publisher.transport.bindings
        time.sleep(1.0)  # the declare's own topology change has reached the feed
        before, seen = cache.generation, watcher.changes_seen
        sender = Producer(other.channel(), exchange=queue.exchange, routing_key=queue.routing_key)
        for n in range(20):
            sender.publish(n)  # message writes elsewhere: nothing for this feed
        time.sleep(1.0)
        assert watcher.changes_seen == seen, "the server sent message changes to a publisher's feed"
        assert cache.generation == before
        bound = Queue(f"{queue.name}-f", exchange)
        bound(other.channel()).declare()  # another process binds: the epoch document is rewritten
        try:
            assert wait_for(lambda: cache.generation != before), "the binding never reached the cache"
            assert watcher.changes_seen > seen
            producer.publish("routed")
            message = get(other, bound)
            assert message is not None and message.payload == "routed"
            message.ack()
        finally:
            bound(other.channel()).delete()
            exchange(other.channel()).delete()


def test_publisher_that_starts_consuming_is_woken_by_the_feed(queue: Queue) -> None:
    # polling_interval 60: only the (now unfiltered) changes feed can deliver within the bound.
    with Connection(URL, transport_options={"polling_interval": 60}) as conn:
        producer = Producer(conn.channel(), exchange=queue.exchange, routing_key=queue.routing_key)
        producer.publish("first", declare=[queue])
        watcher = conn.transport.watcher
        assert wait_for(lambda: watcher.ready) and watcher.filtered
        got: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            message.ack()

        with Consumer(conn.channel(), [queue], callbacks=[on_message]):
            conn.drain_events(timeout=10)
            assert got == ["first"]
            assert wait_for(lambda: watcher.following_messages, timeout=10), "the feed stayed filtered"
            threading.Timer(0.5, publish, (queue, "wake")).start()
            conn.drain_events(timeout=20)
        assert got == ["first", "wake"]


def test_one_message_per_drain_events_call(queue: Queue) -> None:
    publish(queue, *range(3))
    with Connection(URL) as conn:
        got: list[Any] = []

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            message.ack()

        with Consumer(conn.channel(), [queue], callbacks=[on_message], prefetch_count=10):
            for expected in (1, 2, 3):
                conn.drain_events(timeout=5)
                assert len(got) == expected, "drain_events delivered more (or less) than one message"
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=0.5)
        assert got == [0, 1, 2]
    with Connection(URL) as conn:  # the acks of the burst were written at close
        assert queue(conn.channel()).queue_declare(passive=True).message_count == 0
        assert queue(conn.channel()).get() is None


def test_acks_kept_for_a_batch_survive_a_lost_consumer_as_redeliveries(queue: Queue) -> None:
    publish(queue, "a", "b")
    opts = {"visibility_timeout": 1.0, "polling_interval": 0.2}
    conn = Connection(URL, transport_options=opts)
    got: list[Any] = []
    consumer = Consumer(conn.channel(), [queue], callbacks=[lambda body, m: (got.append(body), m.ack())])
    consumer.qos(prefetch_count=10)
    consumer.consume()
    conn.drain_events(timeout=5)
    assert got == ["a"]
    # Dropped without close(): the pending ack of "a" is never written, "b" stays claimed.
    transport = conn.transport
    for channel in list(transport.channels):
        if channel._keeper is not None:
            channel._keeper.stop(timeout=1.0)
    with Connection(URL, transport_options=opts) as other:
        seen = []
        deadline = time.monotonic() + 15
        while len(seen) < 2 and time.monotonic() < deadline:
            message = queue(other.channel()).get()
            if message is None:
                time.sleep(0.1)
                continue
            seen.append(message.payload)
            message.ack()
        assert sorted(seen) == ["a", "b"], "a message was lost (an unwritten ack may only redeliver)"
    conn.release()


def test_message_handed_back_by_kombu5_delivery_path_is_released_not_copied(queue: Queue) -> None:
    # Kombu 5's loop: channel.cycle.get(transport._deliver). With no callback for the
    # queue, the transport hands the claimed message back through its first channel.
    publish(queue, "once")
    delivered: list[Any] = []
    with Connection(URL, transport_options=FAST) as conn:
        first, second = conn.channel(), conn.channel()
        assert conn.transport.channels[0] is first
        with Consumer(first, [queue], callbacks=[lambda body, m: delivered.append(body)]):
            other = Consumer(second, [queue], callbacks=[lambda body, m: delivered.append(body)])
            other.consume()
            other.cancel()  # the connection's callback for the queue went with it
            first.cycle.get(conn.transport._deliver)
    assert delivered == []
    time.sleep(2.5)  # a claim left behind would have lapsed by now
    seen = []
    with Connection(URL, transport_options=FAST) as conn:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            message = queue(conn.channel()).get()
            if message is None:
                time.sleep(0.1)
                continue
            seen.append((message.payload, message.delivery_info.get("redelivered")))
            message.ack()
    assert seen == [("once", True)], "the message came back as a copy while its claim stayed"
