"""The virtual engine's settle/release hooks: which one is called, when, with what, how often.

``HookedTransport`` is memory:// with both hooks recording their calls; its
release still stores the messages again (the default's copy), so every
message stays observable on the in-process broker.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport import memory, virtual
from kombu.transport.virtual.qos import overrides_hook

_names = itertools.count(1)


class HookedChannel(memory.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, list[Any], bool]] = []
        self.fail_release: BaseException | None = None
        #: Messages in the dead-letter queue each time a settle was called.
        self.dead_at_settle: list[int] = []
        self.watch_dead: str | None = None

    def _settle_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        self.calls.append(("settle", [m.payload for m in messages], rejected))
        if self.watch_dead is not None:
            self.dead_at_settle.append(self._size(self.watch_dead))

    def _release_deliveries(self, messages: Sequence[virtual.Message], *, rejected: bool) -> None:
        self.calls.append(("release", [m.payload for m in messages], rejected))
        if self.fail_release is not None:
            raise self.fail_release
        super()._release_deliveries(messages, rejected=rejected)


class HookedTransport(memory.Transport):
    Channel = HookedChannel


@pytest.fixture
def conn() -> Iterator[Connection]:
    if HookedTransport.capabilities is None:
        with Connection("memory://") as plain:  # memory://'s declared capabilities
            HookedTransport.capabilities = plain.transport.capabilities
    with Connection(transport=HookedTransport) as connection:
        yield connection


def _queue(conn: Connection, **kwargs: Any) -> Queue:
    queue = Queue(f"hooks-{next(_names)}", **kwargs)
    queue(conn.default_channel).declare()
    return queue


def _publish(conn: Connection, queue: Queue, *bodies: str) -> None:
    producer = Producer(conn.default_channel, serializer="json")
    for body in bodies:
        producer.publish(body, routing_key=queue.name)


def _take(conn: Connection, queue: Queue, n: int, no_ack: bool = False) -> list[Any]:
    got: list[Any] = []
    with Consumer(conn.default_channel, [queue], callbacks=[lambda body, m: got.append(m)], no_ack=no_ack):
        while len(got) < n:
            conn.drain_events(timeout=2)
    return got


def test_the_default_channel_has_no_hooks_of_its_own() -> None:
    assert not overrides_hook(memory.Channel, "_settle_deliveries")
    assert not overrides_hook(memory.Channel, "_release_deliveries")
    assert overrides_hook(HookedChannel, "_settle_deliveries")
    assert overrides_hook(HookedChannel, "_release_deliveries")


def test_ack_settles_once(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a")
    (message,) = _take(conn, queue, 1)
    channel = conn.default_channel
    assert channel.calls == []  # nothing settled before the application decided
    message.ack()
    channel.qos.ack(message.delivery_tag)  # a second ack of the same delivery: nothing
    assert channel.calls == [("settle", ["a"], False)]


def test_ack_multiple_settles_every_earlier_delivery_in_one_call(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b", "c")
    messages = _take(conn, queue, 3)
    conn.default_channel.basic_ack(messages[1].delivery_tag, multiple=True)
    assert conn.default_channel.calls == [("settle", ["a", "b"], False)]
    assert list(conn.default_channel.qos._delivered) == [messages[2].delivery_tag]


def test_multiple_with_an_unknown_tag_settles_nothing(conn: Connection) -> None:
    """A repeated ``ack``/``nack(requeue=False)`` with ``multiple`` of an acked tag loses nothing."""
    queue = _queue(conn)
    _publish(conn, queue, "a", "b", "c")
    messages = _take(conn, queue, 3)
    messages[0].ack()
    channel = conn.default_channel
    channel.basic_ack(messages[0].delivery_tag, multiple=True)
    channel.basic_nack(messages[0].delivery_tag, multiple=True, requeue=False)
    assert channel.calls == [("settle", ["a"], False)]
    assert list(channel.qos._delivered) == [m.delivery_tag for m in messages[1:]]
    channel.close()
    assert channel.calls[-1] == ("release", ["b", "c"], False)
    with Connection(transport=HookedTransport) as other:
        assert sorted(m.payload for m in _take(other, queue, 2)) == ["b", "c"]


def test_reject_without_requeue_settles_after_dead_lettering(conn: Connection) -> None:
    dead = _queue(conn)
    queue = _queue(conn, queue_arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead.name})
    _publish(conn, queue, "a")
    (message,) = _take(conn, queue, 1)
    channel = conn.default_channel
    channel.watch_dead = dead.name
    message.reject()
    assert channel.calls == [("settle", ["a"], True)]
    assert channel.dead_at_settle == [1]


def test_nack_multiple_without_requeue_settles_each(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b")
    messages = _take(conn, queue, 2)
    conn.default_channel.basic_nack(messages[1].delivery_tag, multiple=True, requeue=False)
    assert conn.default_channel.calls == [("settle", ["a"], True), ("settle", ["b"], True)]


def test_reject_with_requeue_releases_and_the_message_comes_back(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a")
    (message,) = _take(conn, queue, 1)
    message.requeue()
    conn.default_channel.basic_ack(message.delivery_tag)  # too late: released, not settled
    assert conn.default_channel.calls == [("release", ["a"], True)]
    (again,) = _take(conn, queue, 1)
    assert again.payload == "a" and again.delivery_info["redelivered"]


def test_close_releases_every_unacked_delivery_in_one_call(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b", "c")
    messages = _take(conn, queue, 3)
    messages[0].ack()
    channel = conn.default_channel
    channel.close()
    channel.close()
    assert channel.calls == [("settle", ["a"], False), ("release", ["b", "c"], False)]
    with Connection(transport=HookedTransport) as other:
        assert sorted(m.payload for m in _take(other, queue, 2)) == ["b", "c"]


def test_recover_releases_unacked_deliveries(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a")
    _take(conn, queue, 1)
    conn.default_channel.basic_recover(requeue=True)
    assert conn.default_channel.calls == [("release", ["a"], False)]
    assert conn.default_channel.qos._delivered == {}


def test_a_failed_release_at_close_reports_every_message(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b")
    _take(conn, queue, 2)
    channel = conn.default_channel
    channel.fail_release = ConnectionError("gone")
    errors = channel.qos.restore_unacked()
    assert [(type(e), m.payload) for e, m in errors] == [(ConnectionError, "a"), (ConnectionError, "b")]
    assert channel.qos._delivered == {}


def test_a_failed_release_at_close_is_logged_per_message(conn: Connection, caplog: pytest.LogCaptureFixture) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b")
    messages = _take(conn, queue, 2)
    channel = conn.default_channel
    channel.fail_release = ConnectionError("gone")
    with caplog.at_level(logging.WARNING, logger="kombu.transport.virtual.qos"):
        channel.close()
    logged = [r.getMessage() for r in caplog.records if "not given back at close" in r.getMessage()]
    assert len(logged) == 2 and all("gone" in text for text in logged)
    assert repr(messages[0].delivery_tag) in logged[0]


def test_no_ack_deliveries_are_settled_before_the_application_sees_them(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a", "b")
    channel = conn.default_channel
    seen: list[list[Any]] = []
    with Consumer(channel, [queue], callbacks=[lambda body, m: seen.append(list(channel.calls))], no_ack=True):
        conn.drain_events(timeout=2)
    assert seen == [[("settle", ["a"], False)]]
    message = channel.basic_get(queue.name, no_ack=True)
    assert message is not None and message.payload == "b"
    assert channel.calls[-1] == ("settle", ["b"], False)
    assert channel.qos._delivered == {}


def test_basic_get_with_ack_waits_for_the_application(conn: Connection) -> None:
    queue = _queue(conn)
    _publish(conn, queue, "a")
    message = conn.default_channel.basic_get(queue.name)
    assert message is not None and conn.default_channel.calls == []
    message.ack()
    assert conn.default_channel.calls == [("settle", ["a"], False)]


def test_an_expired_message_is_settled_not_delivered(conn: Connection) -> None:
    queue = _queue(conn, message_ttl=0.001)
    _publish(conn, queue, "a")
    time.sleep(0.01)
    assert conn.default_channel.basic_get(queue.name) is None
    assert conn.default_channel.calls == [("settle", ["a"], False)]


def test_fanout_copies_are_settled_separately(conn: Connection) -> None:
    exchange = Exchange(f"hooks-fan-{next(_names)}", "fanout")
    q1 = Queue(f"hooks-{next(_names)}", exchange)
    q2 = Queue(f"hooks-{next(_names)}", exchange)
    for q in (q1, q2):
        q(conn.default_channel).declare()
    Producer(conn.default_channel, exchange=exchange, serializer="json").publish("x")
    (m1,) = _take(conn, q1, 1)
    (m2,) = _take(conn, q2, 1)
    assert m1.delivery_tag != m2.delivery_tag
    m1.ack()
    m2.reject(requeue=True)
    assert [c[0] for c in conn.default_channel.calls] == ["settle", "release"]
