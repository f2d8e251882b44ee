"""A consumer whose connection was cut never renews its claims again.

pymongo checks a pooled socket that was idle for more than a second before
using it; a socket closed under it (a cut, a reset) is then replaced by a new
connection without any error. Through a proxy that keeps accepting, the lease
keeper of a cut consumer would so go on renewing its claims forever, and the
messages would never return to the live consumers. These tests drive that
path directly (no timing luck needed): let the pooled socket idle past
pymongo's liveness check, cut, renew.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import MONGODB_URL, require_mongodb

#: Renewals only when the test calls ``renew_now`` (the thread never ticks).
OPTIONS = {"visibility_timeout": 30, "lease_interval": 10_000, "restore_interval": 0.2, "polling_interval": 0.05}
#: Longer than the idle time after which pymongo checks a pooled socket's liveness (1 s).
PAST_IDLE_CHECK = 1.3


def _proxied_url(proxy: Any) -> str:
    """The proxy's URL; pymongo's server monitor polls only every minute, so that it
    cannot notice the cut first (the renewal must notice it by itself)."""
    url = proxy.url(MONGODB_URL)
    return url + ("&" if "?" in url else "?") + "heartbeatFrequencyMS=60000"


@pytest.fixture
def fault_proxy() -> Iterator[Any]:
    """A fault proxy in front of the test server (it keeps accepting after a cut)."""
    require_mongodb()
    from kombu.testing.proxy import FaultProxy, url_address

    host, port = url_address(MONGODB_URL)
    with FaultProxy(host or "127.0.0.1", port or 27017) as proxy:
        yield proxy


@pytest.fixture
def queue(uname: str) -> Iterator[Queue]:
    require_mongodb()
    q = Queue(uname, Exchange(uname, "direct"), routing_key=uname)
    yield q
    with Connection(MONGODB_URL) as conn:
        q(conn.default_channel).delete()


def _publish(queue: Queue, body: Any) -> None:
    with Connection(MONGODB_URL, transport_options=OPTIONS) as conn:
        Producer(conn.default_channel).publish(
            body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue]
        )


def _drain_until(conn: Connection, got: list[Any], timeout: float) -> None:
    """Drain ``conn`` until ``got`` is not empty or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=0.5)


def _consume_one(conn: Connection, queue: Queue) -> tuple[Consumer, list[Any]]:
    got: list[Any] = []
    consumer = Consumer(
        conn.channel(), [queue], callbacks=[lambda body, message: got.append(message)], prefetch_count=1
    )
    consumer.consume()
    _drain_until(conn, got, 20)
    assert got, "the message was not delivered through the proxy"
    return consumer, got


def _claimed(mdb: Any, token: str) -> dict[str, Any]:
    doc = mdb["messages"].find_one({"claim": token})
    assert doc is not None, "the consumer holds no claim"
    return dict(doc)


def _renew_after_cut(fault_proxy: Any, consumer: Consumer) -> None:
    # Idle first, cut next, renew at once: pymongo's server monitor has no time
    # to notice the cut before the renewal does.
    time.sleep(PAST_IDLE_CHECK)
    assert fault_proxy.cut(reset=True) >= 1, "the consumer was not connected via the proxy"
    time.sleep(0.05)
    keeper = consumer.channel._keeper
    assert keeper is not None, "the channel has no lease keeper"
    try:
        keeper.renew_now()
    except Exception:  # noqa: BLE001 - a failed renewal is as good as a skipped one
        pass


@pytest.mark.parametrize("attempt", range(3))
def test_cut_consumer_does_not_renew_its_claim(fault_proxy: Any, queue: Queue, mdb: Any, attempt: int) -> None:
    _publish(queue, {"cut": attempt})
    proxied = Connection(_proxied_url(fault_proxy), transport_options=OPTIONS)
    try:
        consumer, _ = _consume_one(proxied, queue)
        before = _claimed(mdb, consumer.channel.token)
        _renew_after_cut(fault_proxy, consumer)
        after = mdb["messages"].find_one({"_id": before["_id"]})
        assert after is not None, "the claimed message was lost"
        assert after.get("lease", 0) <= before["lease"], "a cut consumer renewed its claim"
        assert proxied.transport.lost, "the cut was not noticed"
    finally:
        proxied.release()


def test_reconnected_consumer_does_not_renew_old_claims(fault_proxy: Any, queue: Queue, mdb: Any) -> None:
    _publish(queue, {"cut": "reconnect"})
    proxied = Connection(_proxied_url(fault_proxy), transport_options=OPTIONS)
    try:
        consumer, _ = _consume_one(proxied, queue)
        channel = consumer.channel
        before = _claimed(mdb, channel.token)
        _renew_after_cut(fault_proxy, consumer)
        # The application reconnects the same transport; the old channel's keeper still runs.
        proxied.transport.establish_connection()
        assert not proxied.transport.lost
        channel._keeper.renew_now()
        after = mdb["messages"].find_one({"_id": before["_id"]})
        assert after is not None, "the claimed message was lost"
        assert after.get("lease", 0) <= before["lease"], "a reconnected consumer renewed a claim of its dead connection"
    finally:
        proxied.release()


def test_cut_claim_returns_to_a_live_consumer(fault_proxy: Any, queue: Queue) -> None:
    """End to end with the keeper's own thread and a short lease: the claim comes back."""
    options = {"visibility_timeout": 2, "restore_interval": 0.2, "polling_interval": 0.05}
    _publish(queue, {"cut": "returns"})
    proxied = Connection(fault_proxy.url(MONGODB_URL), transport_options=options)
    direct = Connection(MONGODB_URL, transport_options=options)
    try:
        _consume_one(proxied, queue)
        assert fault_proxy.cut(reset=True) >= 1
        got: list[Any] = []
        with Consumer(direct.channel(), [queue], callbacks=[lambda body, message: (got.append(body), message.ack())]):
            _drain_until(direct, got, 30)
        assert got == [{"cut": "returns"}], "the cut consumer's claim never came back"
    finally:
        proxied.release()
        direct.release()
