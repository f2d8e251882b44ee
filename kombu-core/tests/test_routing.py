"""The routing engine on its own: AMQP 0-9-1 semantics, no I/O."""

from __future__ import annotations

import pytest
from kombu.transport.virtual.exchange import (
    DirectExchange,
    FanoutExchange,
    HeadersExchange,
    TopicExchange,
)


def table(exchange_type, *bindings):
    etype = exchange_type()
    return etype, [etype.prepare_bind(queue, "ex", key, args) for key, queue, args in bindings]


def route(exchange_type, bindings, routing_key, headers=None):
    etype, tbl = table(exchange_type, *bindings)
    return sorted(etype.compile(tbl).lookup(routing_key, headers))


def test_direct_routes_on_equal_key_only():
    bindings = [("video", "q1", None), ("video", "q2", None), ("image", "q3", None)]
    assert route(DirectExchange, bindings, "video") == ["q1", "q2"]
    assert route(DirectExchange, bindings, "image") == ["q3"]
    assert route(DirectExchange, bindings, "vid") == []


def test_direct_same_queue_twice_is_one_delivery():
    assert route(DirectExchange, [("k", "q", None), ("k", "q", None)], "k") == ["q"]


@pytest.mark.parametrize(
    ("binding_key", "routing_key", "matches"),
    [
        ("stock.#", "stock", True),
        ("stock.#", "stock.nyse", True),
        ("stock.#", "stock.nyse.ibm", True),
        ("stock.#", "stocks", False),
        ("#", "", True),
        ("#", "anything.at.all", True),
        ("*.error", "db.error", True),
        ("*.error", "error", False),
        ("*.error", "db.x.error", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.b.b.c", True),
        ("a.#.c", "a.b.d", False),
        ("#.c", "c", True),
        ("#.c", "x.y.c", True),
        ("a.b", "a.b", True),
        ("a.b", "a.bx", False),
        ("a+b.(c)", "a+b.(c)", True),
        ("a+b.(c)", "aab.c", False),
    ],
)
def test_topic_follows_amqp(binding_key, routing_key, matches):
    assert route(TopicExchange, [(binding_key, "q", None)], routing_key) == (["q"] if matches else [])


def test_topic_union_of_bindings_each_queue_once():
    bindings = [("stock.#", "q1", None), ("*.nyse", "q1", None), ("stock.nyse", "q2", None)]
    assert route(TopicExchange, bindings, "stock.nyse") == ["q1", "q2"]


def test_topic_stores_kombu5_pattern_for_mixed_fleets():
    etype = TopicExchange()
    assert etype.prepare_bind("q", "ex", "stock.#", None) == ("stock.#", r"^stock\..*?$", "q")
    assert etype.prepare_bind("q", "ex", "*.err_x", None)[1] == r"^[^\.]+\.err\_x$"


def test_fanout_ignores_routing_key():
    bindings = [("a", "q1", None), ("b", "q2", None)]
    assert route(FanoutExchange, bindings, "whatever") == ["q1", "q2"]


def test_headers_match_all_and_any():
    bindings = [
        ("", "all", {"x-match": "all", "format": "pdf", "type": "report"}),
        ("", "any", {"x-match": "any", "format": "pdf", "type": "log"}),
        ("", "default-all", {"format": "zip"}),
    ]
    assert route(HeadersExchange, bindings, "", {"format": "pdf", "type": "report"}) == ["all", "any"]
    assert route(HeadersExchange, bindings, "", {"format": "pdf"}) == ["any"]
    assert route(HeadersExchange, bindings, "", {"type": "log"}) == ["any"]
    assert route(HeadersExchange, bindings, "", {"format": "zip"}) == ["default-all"]
    assert route(HeadersExchange, bindings, "", {}) == []


def test_headers_binding_serializes_for_stored_tables():
    etype = HeadersExchange()
    key, pattern, queue = etype.prepare_bind("q", "ex", "", {"x-match": "any", "a": 1})
    assert isinstance(pattern, str)
    assert etype.compile([(key, pattern, queue)]).lookup("", {"a": 1}) == ["q"]


def test_compiled_router_is_reused_until_the_table_changes():
    from kombu import Connection

    with Connection("memory://") as conn:
        channel = conn.default_channel
        channel.exchange_declare("rt.ex", "topic")
        channel.queue_declare("rt.q1")
        channel.queue_bind("rt.q1", "rt.ex", "a.*")
        assert channel._lookup("rt.ex", "a.b") == ["rt.q1"]
        router = channel._routers["rt.ex"][1]
        assert channel._lookup("rt.ex", "a.c") == ["rt.q1"]
        assert channel._routers["rt.ex"][1] is router
        channel.queue_declare("rt.q2")
        channel.queue_bind("rt.q2", "rt.ex", "#")
        assert sorted(channel._lookup("rt.ex", "a.b")) == ["rt.q1", "rt.q2"]
        assert channel._routers["rt.ex"][1] is not router
        channel.queue_unbind("rt.q1", "rt.ex", "a.*")
        assert channel._lookup("rt.ex", "a.b") == ["rt.q2"]
        channel.exchange_delete("rt.ex")
