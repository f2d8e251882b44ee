"""kombu.pidbox on memory://: nodes in a thread, the caller in the test."""

from __future__ import annotations

import threading

import pytest
from kombu import Connection
from kombu.clocks import LamportClock
from kombu.pidbox import Mailbox, Node
from kombu.utils.uuid import uuid


class NodeThread(threading.Thread):
    """Runs pidbox nodes on a connection of their own until stopped."""

    def __init__(self, mailbox: Mailbox, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.mailbox = mailbox
        self.names = names
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.casts: list[tuple[str, dict]] = []
        self.error: BaseException | None = None

    def handlers(self, name: str) -> dict:
        def ping(state, **kwargs):
            return {"pong": name, **kwargs}

        def remember(state, **kwargs):
            self.casts.append((name, kwargs))

        def fail(state, **kwargs):
            raise KeyError("no such thing")

        return {"ping": ping, "remember": remember, "fail": fail}

    def run(self) -> None:
        try:
            with Connection("memory://") as conn:
                bound = self.mailbox(conn)
                for name in self.names:
                    node = bound.Node(name, state={"name": name}, handlers=self.handlers(name), channel=conn.channel())
                    node.listen()
                self.ready.set()
                while not self.stopping.is_set():
                    try:
                        conn.drain_events(timeout=0.02)
                    except TimeoutError:
                        pass
        except BaseException as exc:  # pragma: no cover - reported by the fixture
            self.error = exc
            self.ready.set()


@pytest.fixture
def nodes():
    mailbox = Mailbox(f"test-{uuid()}", type="fanout")
    thread = NodeThread(mailbox, ["n1", "n2"])
    thread.start()
    assert thread.ready.wait(30)
    yield mailbox, thread
    thread.stopping.set()
    thread.join(30)
    assert thread.error is None


def test_call_to_two_nodes_collects_two_replies(nodes):
    mailbox, _ = nodes
    with Connection("memory://") as conn:
        replies = mailbox(conn).call(["n1", "n2"], "ping", {"x": 1}, timeout=30)
    assert sorted(replies, key=lambda r: list(r)[0]) == [
        {"n1": {"pong": "n1", "x": 1}},
        {"n2": {"pong": "n2", "x": 1}},
    ]


def test_destination_filters_nodes(nodes):
    mailbox, _ = nodes
    with Connection("memory://") as conn:
        bound = mailbox(conn)
        assert bound.call(["n2"], "ping", timeout=30) == [{"n2": {"pong": "n2"}}]
        seen = []
        replies = bound._broadcast(
            "ping", reply=True, pattern="n1*", matcher="glob", limit=1, timeout=30, callback=seen.append
        )
        assert replies == [{"n1": {"pong": "n1"}}] and seen == replies


def test_multi_call_reaches_every_node(nodes):
    mailbox, _ = nodes
    with Connection("memory://") as conn:
        replies = mailbox(conn).multi_call("ping", limit=2, timeout=30)
    assert sorted(list(r)[0] for r in replies) == ["n1", "n2"]


def test_handler_errors_are_replied(nodes):
    mailbox, _ = nodes
    with Connection("memory://") as conn:
        (reply,) = mailbox(conn).call(["n1"], "fail", timeout=30)
    assert "KeyError" in reply["n1"]["error"]


def test_cast_and_abcast_need_no_reply(nodes):
    mailbox, thread = nodes
    with Connection("memory://") as conn:
        bound = mailbox(conn)
        assert bound.cast(["n1"], "remember", {"a": 1}) is None
        assert bound.abcast("remember", {"b": 2}) is None
        # a call after the casts is handled after them: once it is answered, they ran
        bound.call(["n1", "n2"], "ping", timeout=30)
    assert sorted(thread.casts, key=repr) == [("n1", {"a": 1}), ("n1", {"b": 2}), ("n2", {"b": 2})]


def test_destination_must_be_a_list():
    with Connection("memory://") as conn, pytest.raises(ValueError):
        Mailbox("x")(conn).call("n1", "ping")


def test_queues_and_exchanges_follow_kombu_names():
    mailbox = Mailbox("celery", type="fanout", reply_queue_ttl=5)
    assert mailbox.exchange.name == "celery.pidbox" and mailbox.exchange.type == "fanout"
    assert mailbox.reply_exchange.name == "reply.celery.pidbox"
    queue = mailbox.get_queue("worker1")
    assert queue.name == "worker1.celery.pidbox" and queue.exclusive and queue.auto_delete
    reply = mailbox.reply_queue
    assert reply.name == f"{mailbox.oid}.reply.celery.pidbox"
    assert reply.routing_key == mailbox.oid
    assert reply.expires == 10.0 and reply.message_ttl == 5.0 and reply.auto_delete


def test_node_dispatch_and_clock():
    clock = LamportClock()
    mailbox = Mailbox("local", clock=clock)
    node = mailbox.Node("me", state="STATE")
    assert isinstance(node, Node)

    @node.handler
    def echo(state, value):
        return (state, value)

    assert node.dispatch("echo", {"value": 3}) == ("STATE", 3)
    assert node.handle_message({"method": "echo", "arguments": {"value": 1}, "destination": ["other"]}) is None
    assert node.handle_message({"method": "echo", "arguments": {"value": 2}, "destination": None}) == ("STATE", 2)

    class FakeMessage:
        headers = {"clock": 41}

    node.handle_message({"method": "echo", "arguments": {"value": 4}}, FakeMessage())
    assert clock.value == 42


def _channel_with(queue_expires: bool, message_ttl: bool):
    class Capabilities:
        pass

    capabilities = Capabilities()
    capabilities.queue_expires, capabilities.message_ttl = queue_expires, message_ttl

    class Transport:
        pass

    transport = Transport()
    transport.capabilities = capabilities

    class Channel:
        connection = transport

    return Channel()


def test_ttl_and_expiry_are_left_out_where_the_transport_lacks_them(nodes):
    # Celery's mailbox sets queue_ttl, queue_expires and reply TTL/expiry; a transport
    # without those capabilities still gets working remote control.
    from kombu.pidbox import _queue_for

    mailbox = Mailbox("celery", type="fanout", queue_ttl=300.0, queue_expires=10.0, reply_queue_ttl=60.0)
    adapted = _queue_for(mailbox.get_queue("worker"), _channel_with(queue_expires=False, message_ttl=False))
    assert adapted.expires is None and adapted.message_ttl is None
    assert mailbox.get_queue("worker").message_ttl == 300.0  # the original is untouched
    only_ttl = _queue_for(mailbox.get_queue("worker"), _channel_with(queue_expires=False, message_ttl=True))
    assert only_ttl.expires is None and only_ttl.message_ttl == 300.0

    celery_like, thread = nodes
    celery_like.queue_ttl, celery_like.reply_queue_ttl = 300.0, 60.0
    with Connection("memory://") as conn:
        assert celery_like(conn).call(["n1"], "ping", timeout=30) == [{"n1": {"pong": "n1"}}]


def test_ttl_and_expiry_are_kept_where_supported():
    from kombu.pidbox import _queue_for

    class Capable:
        queue_expires = True
        message_ttl = True

    class Transport:
        capabilities = Capable()

    class Channel:
        connection = Transport()

    queue = Mailbox("x", queue_ttl=5.0, queue_expires=7.0).get_queue("n")
    assert _queue_for(queue, Channel()) is queue


def test_producer_pool_can_be_forgotten_before_and_after_use():
    # Celery deletes ``mailbox.producer_pool`` after every fork, used or not.
    made = []

    def make_pool():
        made.append(object())
        return made[-1]

    from kombu.utils.functional import lazy

    mailbox = Mailbox("forget", producer_pool=lazy(make_pool))
    del mailbox.producer_pool
    assert made == []
    first = mailbox.producer_pool
    assert mailbox.producer_pool is first and len(made) == 1
    del mailbox.producer_pool
    assert mailbox.producer_pool is made[1] and len(made) == 2
