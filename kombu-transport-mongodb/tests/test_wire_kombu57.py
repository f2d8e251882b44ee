"""Wire compatibility with Kombu 5.7.0's MongoDB transport, both directions, one database.

Kombu 5.7.0 runs in ``.venv-kombu57`` in a subprocess (``kombu57_side.py``,
which patches two stand-in obstacles on Kombu's side only: see its
docstring); this process runs ours.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue

SIDE = Path(__file__).with_name("kombu57_side.py")
#: Kombu 5.7's collections as the stand-in can hold them (dots become underscores).
KOMBU_OPTIONS = {
    "messages_collection": "messages",
    "routing_collection": "messages_routing",
    "queues_collection": "messages_queues",
    "broadcast_collection": "messages_broadcast",
}


def run57(python: Path, **cmd: Any) -> Any:
    proc = subprocess.run(
        [str(python), str(SIDE), json.dumps({"options": KOMBU_OPTIONS, **cmd})],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"w57.{tag}", f"w57x.{tag}"


def drain(conn: Connection, queue: Queue, count: int, ack: bool = True, timeout: float = 10) -> list[Any]:
    got: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        got.append((body, message))
        if ack:
            message.ack()

    with Consumer(conn.channel(), [queue], callbacks=[on_message], accept=["json"]):
        import time

        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
    return got


def test_kombu57_publishes_we_consume(mongodb_url: str, kombu57: Path) -> None:
    qname, xname = names()
    bodies = [{"n": i} for i in range(5)]
    run57(
        kombu57,
        op="publish",
        url=mongodb_url,
        queue=qname,
        exchange=xname,
        messages=[{"body": b, "headers": {"h": i}} for i, b in enumerate(bodies)],
    )
    queue = Queue(qname, Exchange(xname), routing_key=qname)
    with Connection(mongodb_url) as conn:
        got = drain(conn, queue, 5)
        queue(conn.channel()).delete()
    assert [b for b, _ in got] == bodies
    assert [m.headers["h"] for _, m in got] == list(range(5))


def test_we_publish_kombu57_consumes(mongodb_url: str, kombu57: Path) -> None:
    qname, xname = names()
    exchange = Exchange(xname)
    queue = Queue(qname, exchange, routing_key=qname)
    bodies = [{"n": i, "text": "héllo"} for i in range(5)]
    with Connection(mongodb_url) as conn:
        producer = Producer(conn.channel(), exchange=exchange)
        for b in bodies:
            producer.publish(b, routing_key=qname, declare=[queue], headers={"from": "us"})
        out = run57(kombu57, op="consume", url=mongodb_url, queue=qname, exchange=xname, count=5)
        queue(conn.channel()).delete()
    assert [m["body"] for m in out["got"]] == bodies
    assert all(m["headers"]["from"] == "us" for m in out["got"])


def test_kombu57_priorities_order_for_us_and_ours_for_kombu(mongodb_url: str, kombu57: Path) -> None:
    qname, xname = names()
    run57(
        kombu57,
        op="publish",
        url=mongodb_url,
        queue=qname,
        exchange=xname,
        max_priority=9,
        messages=[{"body": p, "priority": p} for p in (1, 9, 5)],
    )
    queue = Queue(qname, Exchange(xname), routing_key=qname, max_priority=9)
    with Connection(mongodb_url) as conn:
        got = drain(conn, queue, 3)
        assert [b for b, _ in got] == [9, 5, 1]
        producer = Producer(conn.channel(), exchange=Exchange(xname))
        for p in (2, 8, 4):
            producer.publish(p, routing_key=qname, priority=p)
        out = run57(kombu57, op="consume", url=mongodb_url, queue=qname, exchange=xname, count=3, max_priority=9)
        queue(conn.channel()).delete()
    assert [m["body"] for m in out["got"]] == [8, 4, 2]


def test_kombu57_never_takes_a_message_we_claimed(mongodb_url: str, kombu57: Path) -> None:
    qname, xname = names()
    exchange = Exchange(xname)
    queue = Queue(qname, exchange, routing_key=qname)
    with Connection(mongodb_url) as conn:
        Producer(conn.channel(), exchange=exchange).publish({"m": "held"}, routing_key=qname, declare=[queue])
        consumer_conn = Connection(mongodb_url)
        try:
            got = drain(consumer_conn, queue, 1, ack=False)
            assert [b for b, _ in got] == [{"m": "held"}]
            # Claimed by us: Kombu 5.7 (find_one_and_delete on the queue) sees nothing.
            out = run57(kombu57, op="consume", url=mongodb_url, queue=qname, exchange=xname, count=1, timeout=2)
            assert out["got"] == []
        finally:
            consumer_conn.release()  # a clean close puts the unacked message back
        out = run57(kombu57, op="consume", url=mongodb_url, queue=qname, exchange=xname, count=1)
        queue(conn.channel()).delete()
    assert [m["body"] for m in out["got"]] == [{"m": "held"}]


def test_bindings_made_by_kombu57_route_our_publishes(mongodb_url: str, kombu57: Path) -> None:
    qname, xname = names()
    # Kombu declares and binds (stored in the routing collection), we publish from a
    # process that never declared the queue.
    run57(kombu57, op="publish", url=mongodb_url, queue=qname, exchange=xname, messages=[])
    with Connection(mongodb_url) as conn:
        Producer(conn.channel(), exchange=Exchange(xname)).publish({"m": "routed"}, routing_key=qname)
        out = run57(kombu57, op="consume", url=mongodb_url, queue=qname, exchange=xname, count=1)
        Queue(qname, Exchange(xname), routing_key=qname)(conn.channel()).delete()
    assert [m["body"] for m in out["got"]] == [{"m": "routed"}]
