"""What the transport promises beyond the conformance kit: claims, leases, requeue, delay.

Each test reads the database directly (pymongo, ``mdb``) where the promise is
about what is stored.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu_transport_mongodb.layout import claimed, delayed

HOLDER = Path(__file__).with_name("holder.py")
FAST = {"visibility_timeout": 1.5, "lease_interval": 0.3, "restore_interval": 0.2, "polling_interval": 0.05}


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def collect(conn: Connection, queue: Queue, count: int, timeout: float = 15.0, ack: bool = True) -> list[Any]:
    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append(message)
        if ack:
            message.ack()

    with Consumer(conn.channel(), [queue], callbacks=[on_message], accept=["json"]):
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
    return got


@pytest.fixture
def queue(uname: str, mongodb_url: str) -> Any:
    q = Queue(uname, Exchange(uname + ".x"), routing_key=uname)
    yield q
    with Connection(mongodb_url) as conn:
        q(conn.channel()).delete()


def publish(url: str, queue: Queue, *bodies: Any, **kwargs: Any) -> None:
    with Connection(url) as conn:
        producer = Producer(conn.channel(), exchange=queue.exchange)
        for body in bodies:
            producer.publish(body, routing_key=queue.routing_key, declare=[queue], **kwargs)


def test_a_claim_moves_the_message_out_of_its_queue_and_ack_deletes_it(
    mongodb_url: str, mdb: Any, queue: Queue
) -> None:
    publish(mongodb_url, queue, {"n": 1})
    with Connection(mongodb_url) as conn:
        message = queue(conn.channel()).get()
        assert message is not None and message.payload == {"n": 1}
        docs = list(mdb["messages"].find({"queue": {"$in": [queue.name, claimed(queue.name)]}}))
        assert [d["queue"] for d in docs] == [claimed(queue.name)]
        assert docs[0]["lease"] > time.time()
        message.ack()
    assert mdb["messages"].count_documents({"queue": {"$in": [queue.name, claimed(queue.name)]}}) == 0


def test_requeue_puts_the_message_back_at_the_head(mongodb_url: str, queue: Queue) -> None:
    publish(mongodb_url, queue, {"n": 1}, {"n": 2}, {"n": 3})
    with Connection(mongodb_url) as conn:
        bound = queue(conn.channel())
        first = bound.get()
        assert first.payload == {"n": 1}
        first.requeue()
        again = bound.get()
        assert again.payload == {"n": 1}
        assert again.delivery_info.get("redelivered") is True
        again.ack()
        rest = [bound.get(), bound.get()]
        assert [m.payload for m in rest] == [{"n": 2}, {"n": 3}]
        for m in rest:
            m.ack()


def test_reject_without_requeue_deletes(mongodb_url: str, mdb: Any, queue: Queue) -> None:
    publish(mongodb_url, queue, {"n": 1})
    with Connection(mongodb_url) as conn:
        message = queue(conn.channel()).get()
        message.reject()
    assert mdb["messages"].count_documents({"queue": {"$in": [queue.name, claimed(queue.name)]}}) == 0


def test_a_slow_consumer_keeps_its_message_past_the_visibility_timeout(mongodb_url: str, queue: Queue) -> None:
    publish(mongodb_url, queue, {"slow": True})
    with (
        Connection(mongodb_url, transport_options=FAST) as slow,
        Connection(mongodb_url, transport_options=FAST) as other,
    ):
        message = queue(slow.channel()).get()
        assert message is not None
        # Three visibility timeouts later another consumer still gets nothing.
        rival = queue(other.channel())
        deadline = time.monotonic() + 3 * FAST["visibility_timeout"]
        while time.monotonic() < deadline:
            stolen = rival.get()
            assert stolen is None, "a live consumer's lease ran out"
            time.sleep(0.1)
        message.ack()


def test_a_sigkilled_consumers_claims_come_back_once(mongodb_url: str, mdb: Any, queue: Queue) -> None:
    count = 50
    publish(mongodb_url, queue, *[{"n": i} for i in range(count)])
    holder = subprocess.Popen(
        [sys.executable, str(HOLDER), mongodb_url, queue.name, str(count), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == f"held {count}", line
        assert mdb["messages"].count_documents({"queue": claimed(queue.name)}) == count
    finally:
        holder.kill()
        holder.wait(10)
    with Connection(mongodb_url, transport_options=FAST) as conn:
        got = collect(conn, queue, count, timeout=30)
    assert sorted(m.payload["n"] for m in got) == list(range(count))
    assert all(m.delivery_info.get("redelivered") for m in got)
    assert mdb["messages"].count_documents({"queue": {"$in": [queue.name, claimed(queue.name)]}}) == 0


def test_expired_claims_are_restored_exactly_once_by_concurrent_consumers(
    mongodb_url: str, mdb: Any, queue: Queue
) -> None:
    count = 20
    publish(mongodb_url, queue, *[{"n": i} for i in range(count)])
    mdb["messages"].update_many(
        {"queue": queue.name}, {"$set": {"queue": claimed(queue.name), "claim": "dead", "lease": 1.0}}
    )
    conns = [Connection(mongodb_url, transport_options=FAST) for _ in range(4)]
    results: list[tuple[int, int]] = []
    try:
        transports = [c.transport for c in conns]
        for c in conns:
            c.connect()
        threads = [threading.Thread(target=lambda t=t: results.append(t.maintain(queue.name))) for t in transports]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for c in conns:
            c.release()
    assert sum(r[0] for r in results) == count
    assert mdb["messages"].count_documents({"queue": queue.name}) == count


def test_delayed_message_is_invisible_until_due(mongodb_url: str, mdb: Any, queue: Queue) -> None:
    publish(mongodb_url, queue, {"late": True}, headers={"x-delay": 1500})
    publish(mongodb_url, queue, {"now": True})
    with Connection(mongodb_url, transport_options=FAST) as conn:
        bound = queue(conn.channel())
        first = bound.get()
        assert first.payload == {"now": True}
        first.ack()
        assert bound.get() is None
        assert mdb["messages"].count_documents({"queue": delayed(queue.name)}) == 1
        late = None
        deadline = time.monotonic() + 15
        while late is None and time.monotonic() < deadline:
            late = bound.get()
            time.sleep(0.05)
        assert late is not None and late.payload == {"late": True}
        late.ack()


def test_priorities_up_to_255(mongodb_url: str, uname: str) -> None:
    queue = Queue(uname, Exchange(uname + ".x"), routing_key=uname, max_priority=255)
    with Connection(mongodb_url) as conn:
        producer = Producer(conn.channel(), exchange=queue.exchange)
        for p in (10, 255, 0, 200, 300):
            producer.publish({"p": p}, routing_key=uname, priority=p, declare=[queue])
        bound = queue(conn.channel())
        order = []
        for _ in range(5):
            message = bound.get()
            order.append(message.payload["p"])
            message.ack()
        bound.delete()
    # 300 counts as 255 (the queue's maximum), published after 255: FIFO within a priority.
    assert order == [255, 300, 200, 10, 0]


def test_fanout_copies_from_stored_bindings(mongodb_url: str, uname: str) -> None:
    fanout = Exchange(uname + ".f", "fanout")
    queues = [Queue(f"{uname}.{i}", fanout) for i in range(3)]
    with Connection(mongodb_url) as binder:
        for q in queues:
            q(binder.channel()).declare()
    # A process that never declared the exchange or the queues publishes: this
    # process forgets what it declared, as a fresh process would know nothing.
    from kombu_transport_mongodb import transport

    transport._STATES.clear()
    with Connection(mongodb_url) as publisher:
        Producer(publisher.channel(), exchange=fanout).publish({"to": "all"})
    with Connection(mongodb_url) as conn:
        for q in queues:
            bound = q(conn.channel())
            message = bound.get()
            assert message is not None and message.payload == {"to": "all"}, q.name
            message.ack()
            bound.delete()


def test_a_process_that_never_declared_an_exchange_learns_its_stored_type(mongodb_url: str, uname: str) -> None:
    """Passive declare, typeof and a conflicting redeclare, in a process that only sees the stored bindings."""
    from kombu.exceptions import ChannelError
    from kombu.transport.virtual import NotEquivalentError
    from kombu_transport_mongodb import transport

    topic = Exchange(uname + ".t", "topic")
    queue = Queue(uname + ".tq", topic, routing_key="stock.#")
    with Connection(mongodb_url) as binder:
        queue(binder.channel()).declare()
    transport._STATES.clear()
    with Connection(mongodb_url) as fresh:
        channel = fresh.channel()
        channel.exchange_declare(topic.name, passive=True)
        assert channel.typeof(topic.name).type == "topic"
        with pytest.raises(NotEquivalentError):  # RabbitMQ's PRECONDITION_FAILED
            Producer(fresh.channel(), exchange=topic.name).publish({"as": "direct"})  # declares it direct
        Producer(channel, exchange=topic).publish({"n": 1}, routing_key="stock.usd")
        message = queue(channel).get()
        assert message is not None and message.payload == {"n": 1}
        message.ack()
        channel.exchange_delete(topic.name)
    transport._STATES.clear()
    with Connection(mongodb_url) as after:
        with pytest.raises(ChannelError, match="NOT_FOUND"):
            after.channel().exchange_declare(topic.name, passive=True)
        queue(after.channel()).delete()


def test_an_unreadable_document_is_set_aside_and_consuming_goes_on(mongodb_url: str, mdb: Any, queue: Queue) -> None:
    publish(mongodb_url, queue, {"n": 1})
    mdb["messages"].insert_one({"queue": queue.name, "payload": "not json {", "priority": -100})
    with Connection(mongodb_url) as conn:
        got = collect(conn, queue, 1)
    assert [m.payload for m in got] == [{"n": 1}]
    assert mdb["messages"].count_documents({"queue": "kombu.unreadable:" + queue.name}) == 1
    mdb["messages"].delete_many({"queue": "kombu.unreadable:" + queue.name})


def test_no_ack_consumer_deletes_on_delivery(mongodb_url: str, mdb: Any, queue: Queue) -> None:
    publish(mongodb_url, queue, {"n": 1}, {"n": 2})
    got: list[Any] = []
    with Connection(mongodb_url) as conn:
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: got.append(b)], no_ack=True):
            wait_for(lambda: _drain_once(conn) or len(got) == 2)
    assert got == [{"n": 1}, {"n": 2}]
    assert mdb["messages"].count_documents({"queue": {"$in": [queue.name, claimed(queue.name)]}}) == 0


def _drain_once(conn: Connection) -> bool:
    try:
        conn.drain_events(timeout=0.1)
    except TimeoutError:
        pass
    return False


def test_queue_expiry_spares_a_consumed_queue_and_deletes_an_unused_one(mongodb_url: str, mdb: Any, uname: str) -> None:
    used = Queue(uname + ".used", Exchange(uname + ".x"), routing_key="used", expires=1.0)
    unused = Queue(uname + ".unused", Exchange(uname + ".x"), routing_key="unused", expires=1.0)
    publish(mongodb_url, unused, {"n": 1})
    with Connection(mongodb_url, transport_options=FAST) as conn:
        used(conn.channel()).declare()
        got: list[Any] = []
        with Consumer(conn.channel(), [used], callbacks=[lambda b, m: got.append(b)]):
            deadline = time.monotonic() + 4.0  # four times the expiry
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        names = conn.transport.names  # dotted names, or undotted on servers that refuse dots
        assert mdb[names.queues].find_one({"_id": used.name}) is not None
        assert mdb[names.queues].find_one({"_id": unused.name}) is None
        assert mdb[names.routing].count_documents({"queue": unused.name}) == 0
        assert mdb["messages"].count_documents({"queue": unused.name}) == 0
        used(conn.channel()).delete()


def test_unbind_and_exchange_delete_remove_stored_bindings(mongodb_url: str, mdb: Any, uname: str) -> None:
    from kombu_transport_mongodb import transport

    exchange = Exchange(uname + ".x", "direct")
    queues = [Queue(f"{uname}.{i}", exchange, routing_key=f"k{i}") for i in range(2)]
    with Connection(mongodb_url) as binder:
        for q in queues:
            q(binder.channel()).declare()
        routing = mdb[binder.transport.names.routing]
    assert routing.count_documents({"exchange": exchange.name}) == 2
    transport._STATES.clear()  # another process: it never made these bindings
    with Connection(mongodb_url) as other:
        queues[0](other.channel()).unbind_from(exchange, routing_key="k0")
        assert routing.count_documents({"exchange": exchange.name}) == 1
        exchange(other.channel()).delete()
        assert routing.count_documents({"exchange": exchange.name}) == 0
        for q in queues:
            q(other.channel()).delete()


def test_claims_of_a_queue_no_consumer_of_ours_reads_come_back(mongodb_url: str, mdb: Any, uname: str) -> None:
    """Any consuming process restores expired claims of every queue (e.g. one only Kombu 5.7 reads)."""
    orphan = Queue(uname + ".orphan", Exchange(uname + ".x"), routing_key="orphan")
    busy = Queue(uname + ".busy", Exchange(uname + ".x"), routing_key="busy")
    publish(mongodb_url, orphan, {"n": 1})
    mdb["messages"].update_many(
        {"queue": orphan.name}, {"$set": {"queue": claimed(orphan.name), "claim": "dead", "lease": 1.0}}
    )
    with Connection(mongodb_url, transport_options=FAST) as conn:
        collect(conn, busy, 1, timeout=2.0)  # consumes another queue, idle
        assert wait_for(lambda: mdb["messages"].count_documents({"queue": orphan.name}) == 1, 5)
        orphan(conn.channel()).delete()
        busy(conn.channel()).delete()
