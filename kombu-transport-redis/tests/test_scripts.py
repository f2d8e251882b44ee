"""The Lua scripts and the pipelined link, against the real Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kombu_transport_redis import scripts
from kombu_transport_redis.conninfo import ConnInfo, make_pool
from kombu_transport_redis.keys import KeyLayout
from kombu_transport_redis.link import Link


def _envelope(tag: str, body: str = "x", priority: int = 0, ex: str = "ex", rk: str = "rk") -> str:
    return json.dumps(
        {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "text/plain",
            "headers": {},
            "properties": {
                "delivery_tag": tag,
                "priority": priority,
                "body_encoding": "base64",
                "delivery_info": {"exchange": ex, "routing_key": rk},
            },
        }
    )


@pytest.fixture
def link(redis_url: str) -> Any:
    from kombu_transport_redis.conninfo import parse_db

    info = ConnInfo(db=parse_db(redis_url.rsplit("/", 1)[1]))
    lk = Link(make_pool(info))
    yield lk
    lk.close()


@pytest.fixture
def layout(uname: str) -> KeyLayout:
    return KeyLayout(db=14, prefix=uname + ":", unacked="unacked", unacked_index="unacked_index")


def test_fetch_records_each_message_atomically(link: Link, layout: KeyLayout, rclient: Any) -> None:
    key = layout.queue_key("q")
    for i in range(5):
        rclient.lpush(key, _envelope(f"tag{i}"))
    out = link.evalsha(
        scripts.FETCH, [layout.unacked_key, layout.unacked_index_key, *layout.queue_keys("q")], [3, 1000.5, 1]
    )
    got = [json.loads(m)["properties"]["delivery_tag"] for m in out[1::2]]
    assert got == ["tag0", "tag1", "tag2"]
    assert rclient.llen(key) == 2
    stored = json.loads(rclient.hget(layout.unacked_key, "tag0"))
    assert stored[1:] == ["ex", "rk"]
    assert stored[0]["properties"]["delivery_tag"] == "tag0"
    assert rclient.zscore(layout.unacked_index_key, "tag1") == 1000.5
    rclient.delete(layout.unacked_key, layout.unacked_index_key, key)


def test_fetch_serves_priority_lists_in_the_given_order(link: Link, layout: KeyLayout, rclient: Any) -> None:
    for p in (0, 9, 5):
        rclient.lpush(layout.queue_key("q", p), _envelope(f"p{p}", priority=p))
    out = link.evalsha(
        scripts.FETCH, [layout.unacked_key, layout.unacked_index_key, *layout.queue_keys("q")], [10, 1, 0]
    )
    assert [json.loads(m)["properties"]["priority"] for m in out[1::2]] == [9, 5, 0]
    assert not rclient.exists(layout.unacked_key)


def test_restore_pushes_once_and_only_recorded(link: Link, layout: KeyLayout, rclient: Any) -> None:
    key = layout.queue_key("q")
    rclient.hset(layout.unacked_key, "a", '[{}, "", ""]')
    rclient.zadd(layout.unacked_index_key, {"a": 1})
    args = ["head", "a", "MSG-A"]
    assert link.evalsha(scripts.RESTORE, [layout.unacked_key, layout.unacked_index_key, key], args) == 1
    assert link.evalsha(scripts.RESTORE, [layout.unacked_key, layout.unacked_index_key, key], args) == 0
    assert rclient.lrange(key, 0, -1) == [b"MSG-A"]
    assert not rclient.exists(layout.unacked_index_key)
    rclient.delete(key)


def test_publish_direct_routes_by_bindings(link: Link, layout: KeyLayout, rclient: Any) -> None:
    bkey = layout.binding_key("ex")
    rclient.sadd(
        bkey,
        layout.binding_member("rk", "", "q1"),
        layout.binding_member("rk", "", "q2"),
        layout.binding_member("other", "", "q3"),
    )
    n = link.evalsha(scripts.PUBLISH_DIRECT, [bkey], ["rk", "M", layout.prefix, layout.sep + "9", layout.sep])
    assert n == 2
    assert rclient.lrange(layout.queue_key("q1", 9), 0, -1) == [b"M"]
    assert rclient.lrange(layout.queue_key("q2", 9), 0, -1) == [b"M"]
    assert not rclient.exists(layout.queue_key("q3", 9))
    rclient.delete(bkey, layout.queue_key("q1", 9), layout.queue_key("q2", 9))


def test_link_pipelines_and_reports_errors_later(link: Link, uname: str, rclient: Any) -> None:
    for i in range(300):
        link.send("RPUSH", uname, i)
    assert link.call("LLEN", uname) == 300
    rclient.set(uname + ".s", "x")
    link.send("LPUSH", uname + ".s", "boom")  # WRONGTYPE, answered later
    with pytest.raises(Exception, match="WRONGTYPE"):
        link.flush()
    assert link.call("LLEN", uname) == 300
    rclient.delete(uname, uname + ".s")


def test_link_retries_evalsha_after_script_flush(link: Link, layout: KeyLayout, rclient: Any) -> None:
    link.call("PING")
    rclient.script_flush()
    key = layout.queue_key("q")
    rclient.lpush(key, _envelope("t"))
    out = link.evalsha(scripts.FETCH, [layout.unacked_key, layout.unacked_index_key, key], [1, 1, 0])
    assert len(out) == 2
    rclient.delete(key)


def test_link_resends_unanswered_after_reconnect(link: Link, uname: str, rclient: Any) -> None:
    link.call("PING")
    link.send("RPUSH", uname, "a")
    link.flush()
    # Break the socket under the link; the next send reconnects.
    link.conn._sock.close()
    link.conn._sock = None
    link.send("RPUSH", uname, "b")
    link.flush()
    assert rclient.lrange(uname, 0, -1) == [b"a", b"b"]
    rclient.delete(uname)


def test_keys_match_kombu_layout() -> None:
    k = KeyLayout(db=3)
    assert k.queue_key("celery", 0) == "celery"
    assert k.queue_key("celery", 5) == "celery\x06\x163"
    assert k.queue_key("celery", 9) == "celery\x06\x169"
    assert k.queue_keys("celery")[0] == "celery\x06\x169"
    assert KeyLayout(high_first=False).queue_keys("c")[0] == "c"
    assert k.binding_key("ex") == "_kombu.binding.ex"
    assert k.binding_member("rk", "", "q") == "rk\x06\x16\x06\x16q"
    assert k.fanout_channel("bcast") == "/3.bcast"
    assert k.fanout_channel("bcast", "a.b") == "/3.bcast/a.b"
    assert k.exchange_of_channel(b"/3.bcast/a.b") == "bcast"
    assert KeyLayout(prefix="p:").unacked_key == "p:unacked"
    assert k.queue_of_key("celery\x06\x169") == "celery"
