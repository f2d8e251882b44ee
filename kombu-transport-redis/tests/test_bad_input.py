"""Bad input and bad configuration on redis://: clear errors, nothing else lost."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin


class _Worker(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue) -> None:
        self.connection = connection
        self.queue = queue
        self.bodies: list[Any] = []

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        return [Consumer([self.queue], callbacks=[self.on_message])]

    def on_message(self, body: Any, message: Any) -> None:
        self.bodies.append(body)
        message.ack()


def _poison(tag: str, name: str) -> str:
    """A Kombu envelope saying base64 whose body is not base64."""
    return json.dumps(
        {
            "body": "!!!not base64!!!",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {},
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": tag,
                "priority": 0,
                "delivery_mode": 2,
                "delivery_info": {"exchange": name, "routing_key": name},
            },
        }
    )


def _poison_between_good_messages(redis_url: str, rclient: Any, uname: str, poison: list[str | bytes]) -> None:
    """ "before", ``poison`` and "after" on a queue; a ConsumerMixin gets the good two only,
    keeps running, and past visibility_timeout nothing came back or was left recorded."""
    options = {"global_keyprefix": f"{uname}:", "visibility_timeout": 1, "unacked_restore_interval": 0.2}
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    with Connection(redis_url, transport_options=options) as conn:
        producer = conn.Producer()
        producer.publish("before", exchange=queue.exchange, routing_key=uname, declare=[queue])
        rclient.lpush(f"{uname}:{uname}", *poison)
        producer.publish("after", exchange=queue.exchange, routing_key=uname)
    worker = _Worker(Connection(redis_url, transport_options=options), queue)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(worker.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.bodies == ["before", "after"]
        time.sleep(2.5)  # past visibility_timeout: a kept record would come back
        assert thread.is_alive()
        assert worker.bodies == ["before", "after"]
        assert rclient.llen(f"{uname}:{uname}") == 0
        assert rclient.hlen(f"{uname}:unacked") == 0
        assert rclient.zcard(f"{uname}:unacked_index") == 0
    finally:
        worker.should_stop = True
        thread.join(10)
    assert not thread.is_alive()


def test_bad_base64_body_does_not_stop_consumer_mixin_nor_come_back(redis_url: str, rclient: Any, uname: str) -> None:
    _poison_between_good_messages(redis_url, rclient, uname, [_poison(str(uuid.uuid4()), uname)])


def test_password_against_a_passwordless_server_connects_as_redis_py_does(redis_url: str) -> None:
    import redis

    url = redis_url.replace("redis://", "redis://:not-needed@", 1)
    assert redis.Redis.from_url(url).ping()  # what redis-py does
    with Connection(url, connect_timeout=5) as conn:
        conn.connect()
        assert "not-needed" not in repr(conn)
        with conn.SimpleQueue(f"pw.{uuid.uuid4().hex[:8]}") as q:
            q.put("x")
            assert q.get(timeout=5).payload == "x"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        server.close()


def test_connect_timeout_bounds_the_handshake(silent_server: int) -> None:
    conn = Connection(f"redis://:secret@127.0.0.1:{silent_server}/0", connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(conn.connection_errors) as info:
        conn.ensure_connection(max_retries=0)  # one attempt
    took = time.monotonic() - started
    assert took < 2 + 2.5, f"one connect attempt took {took:.1f} s"
    assert "secret" not in str(info.value)


#: Stored values that are not Kombu envelopes: not JSON, JSON that is not
#: UTF-8 (Lua's cjson reads it and records it as unacked), JSON of the wrong shape.
_GARBAGE: tuple[bytes, ...] = (
    b"\x00\x01 not json at all \xfe",
    b'{"body": "\xff\xfe", "content-type": "application/json", "headers": {},'
    b' "properties": {"delivery_tag": "garbage-tag-1", "delivery_info": {}}}',
    b'{"properties": ["not", "a", "dict"]}',
    b"[1, 2, 3]",
)


def test_unparseable_stored_values_are_dropped_once_and_the_consumer_goes_on(
    redis_url: str, rclient: Any, uname: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR", logger="kombu_transport_redis"):
        _poison_between_good_messages(redis_url, rclient, uname, list(_GARBAGE))
    dropped = [r for r in caplog.records if "not a Kombu envelope" in r.getMessage()]
    assert len(dropped) == len(_GARBAGE), [r.getMessage() for r in caplog.records]
    assert any("garbage-tag-1" in r.getMessage() for r in dropped)
    assert all(uname in r.getMessage() for r in dropped)


def test_unreadable_unacked_record_is_dropped_by_the_restorer(redis_url: str, rclient: Any, uname: str) -> None:
    """A record nothing can deliver is removed by the sweep, not found again forever;
    a good record next to it is restored."""
    options = {"global_keyprefix": f"{uname}:", "visibility_timeout": 1}
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    good = json.loads(_poison("good-tag", uname))
    good["body"], good["properties"]["body_encoding"] = '"kept"', None
    old = time.time() - 60
    rclient.hset(
        f"{uname}:unacked", mapping={"bad-tag": b"\xff not json", "good-tag": json.dumps([good, uname, uname])}
    )
    rclient.zadd(f"{uname}:unacked_index", {"bad-tag": old, "good-tag": old})
    with Connection(redis_url, transport_options=options) as conn:
        queue(conn.default_channel).declare()
        assert conn.transport.restore_visible(force=True) == 1
        assert conn.transport.restore_visible(force=True) == 0
        message = queue(conn.default_channel).get()
        assert message is not None and message.payload == "kept"
        message.ack()
    assert rclient.hlen(f"{uname}:unacked") == 0
    assert rclient.zcard(f"{uname}:unacked_index") == 0
