"""Wire compatibility with Kombu 5.7.0, both directions, in one Redis database.

Kombu 5.7.0 runs in its own virtual environment (``.venv-kombu57``, made by
``scripts/reference-venv.sh``) in a subprocess; this process runs ours.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

KOMBU5 = r"""
import json, os, socket, sys, time
from kombu import Connection, Exchange, Queue, Producer, Consumer
cmd = json.loads(sys.argv[1])
url = cmd["url"]
opts = cmd.get("options", {})
ex = Exchange(cmd["exchange"], cmd.get("type", "direct"))
q = Queue(cmd["queue"], ex, routing_key=cmd.get("rk", cmd["queue"]),
          max_priority=cmd.get("max_priority"))
out = {}
with Connection(url, transport_options=opts) as conn:
    ch = conn.channel()
    if cmd["op"] == "publish":
        q(ch).declare()
        p = Producer(ch, exchange=ex)
        for item in cmd["messages"]:
            p.publish(item["body"], routing_key=cmd.get("rk", cmd["queue"]),
                      priority=item.get("priority"), headers=item.get("headers"))
    elif cmd["op"] == "consume":
        got = []
        def cb(body, message):
            got.append({"body": body, "priority": message.properties.get("priority"),
                        "redelivered": bool(message.delivery_info.get("redelivered")),
                        "headers": message.headers})
            action = cmd.get("action", "ack")
            if action == "ack":
                message.ack()
            elif action == "requeue" and len(got) == 1:
                message.reject(requeue=True)
            elif action == "requeue":
                message.ack()
        with Consumer(conn.channel(), [q], callbacks=[cb], accept=["json"]):
            deadline = time.time() + cmd.get("timeout", 5)
            while len(got) < cmd["count"] and time.time() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
            if cmd.get("die"):
                sys.stdout.write(json.dumps(got)); sys.stdout.flush()
                os._exit(0)   # die holding unacked messages
        out = got
    elif cmd["op"] == "fanout-listen":
        got = []
        def cb(body, message):
            got.append(body); message.ack()
        with Consumer(conn.channel(), [q], callbacks=[cb], accept=["json"]):
            for _ in range(3):
                try:
                    conn.drain_events(timeout=0.2)
                except Exception:
                    pass
            print("READY", flush=True)
            deadline = time.time() + 8
            while len(got) < cmd["count"] and time.time() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except Exception:
                    pass
        out = got
sys.stdout.write(json.dumps(out))
"""


def kombu5(python: Path, **cmd: Any) -> Any:
    proc = subprocess.run([str(python), "-c", KOMBU5, json.dumps(cmd)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout or "null")


@pytest.fixture
def names(uname: str) -> dict[str, str]:
    return {"queue": uname + ".q", "exchange": uname + ".x"}


def _cleanup(url: str, names: dict[str, str]) -> None:
    import redis

    r = redis.Redis.from_url(url)
    keys = [k for k in r.scan_iter(match=f"*{names['queue'].rsplit('.', 1)[0]}*")]
    if keys:
        r.delete(*keys)


def _our_consume(
    url: str, names: dict[str, str], count: int, action: str = "ack", options: Any = None, **qkw: Any
) -> list[dict[str, Any]]:
    ex = Exchange(names["exchange"], "direct")
    q = Queue(names["queue"], ex, routing_key=names["queue"], **qkw)
    got: list[dict[str, Any]] = []

    def cb(body: Any, message: Any) -> None:
        got.append(
            {
                "body": body,
                "priority": message.properties.get("priority"),
                "redelivered": bool(message.delivery_info.get("redelivered")),
            }
        )
        if action == "requeue" and len(got) == 1:
            message.reject(requeue=True)
        else:
            message.ack()

    with Connection(url, transport_options=options or {}) as conn:
        with Consumer(conn.channel(), [q], callbacks=[cb], accept=["json"]):
            deadline = time.monotonic() + 5
            while len(got) < count and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
    return got


def test_kombu5_publishes_we_consume_ack_and_requeue(kombu57: Path, redis_url: str, names: dict[str, str]) -> None:
    try:
        msgs = [{"body": {"n": i}, "priority": p} for i, p in enumerate([0, 9, 5, 2])]
        kombu5(kombu57, op="publish", url=redis_url, messages=msgs, max_priority=10, **names)
        got = _our_consume(redis_url, names, 5, action="requeue", options={"priority_order": "amqp"}, max_priority=10)
        # AMQP order (highest step first: 9, 3, 0 with 0 and 2 in step 0);
        # the first one is rejected with requeue and comes back (after the
        # ones already prefetched), marked redelivered.
        assert [g["body"]["n"] for g in got] == [1, 2, 0, 3, 1]
        assert got[4]["redelivered"] and not got[0]["redelivered"]
        assert [g["priority"] for g in got] == [9, 5, 0, 2, 9]
        with Connection(redis_url) as conn:  # everything acked: nothing left
            assert Queue(names["queue"])(conn.channel()).queue_declare(passive=True)[1] == 0
    finally:
        _cleanup(redis_url, names)


def test_we_publish_kombu5_consumes_ack_and_requeue(kombu57: Path, redis_url: str, names: dict[str, str]) -> None:
    try:
        ex = Exchange(names["exchange"], "direct")
        q = Queue(names["queue"], ex, routing_key=names["queue"], max_priority=10)
        with Connection(redis_url) as conn:
            q(conn.channel()).declare()
            p = Producer(conn.channel(), exchange=ex)
            for i, pri in enumerate([0, 9, 5]):
                p.publish({"n": i}, routing_key=names["queue"], priority=pri, headers={"h": i})
        got = kombu5(kombu57, op="consume", url=redis_url, count=3, max_priority=10, **names)
        bodies = [g["body"] for g in got]
        # Kombu 5 serves the lowest priority step first; every message arrives.
        assert bodies[:3] == [{"n": 0}, {"n": 2}, {"n": 1}]
        assert [g["headers"].get("h") for g in got[:3]] == [0, 2, 1]
        with Connection(redis_url) as conn:
            assert Queue(names["queue"])(conn.channel()).queue_declare(passive=True)[1] == 0
            unacked = [json.loads(v) for v in conn.default_channel.link.call("HVALS", "unacked")]
            assert not [u for u in unacked if u[2] == names["queue"]]
    finally:
        _cleanup(redis_url, names)


def test_kombu5_consumer_dies_we_restore_its_unacked(kombu57: Path, redis_url: str, names: dict[str, str]) -> None:
    try:
        kombu5(kombu57, op="publish", url=redis_url, messages=[{"body": {"v": "held"}}], **names)
        got = kombu5(kombu57, op="consume", url=redis_url, count=1, action="none", die=True, **names)
        assert [g["body"] for g in got] == [{"v": "held"}]
        opts = {"visibility_timeout": 0.5, "unacked_restore_interval": 0.2, "unacked_mutex_expire": 2}
        ex = Exchange(names["exchange"], "direct")
        q = Queue(names["queue"], ex, routing_key=names["queue"])
        bodies: list[Any] = []
        with Connection(redis_url, transport_options=opts) as conn:
            q(conn.channel()).declare()  # we know the exchange's bindings too
            time.sleep(0.6)
            with Consumer(
                conn.channel(),
                [q],
                callbacks=[lambda b, m: (bodies.append((b, m.delivery_info.get("redelivered"))), m.ack())],
            ):
                deadline = time.monotonic() + 5
                while not bodies and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.3)
                    except TimeoutError:
                        pass
        assert bodies == [({"v": "held"}, True)]
    finally:
        _cleanup(redis_url, names)


def test_we_die_kombu5_restores_our_unacked(
    kombu57: Path, redis_url: str, names: dict[str, str], tmp_path: Path
) -> None:
    try:
        script = tmp_path / "die.py"
        script.write_text(f"""
import os, time
from kombu import Connection, Exchange, Queue, Producer, Consumer
ex = Exchange({names["exchange"]!r}, "direct")
q = Queue({names["queue"]!r}, ex, routing_key={names["queue"]!r})
with Connection({redis_url!r}) as conn:
    q(conn.channel()).declare()
    Producer(conn.channel(), exchange=ex).publish({{"v": "ours"}}, routing_key={names["queue"]!r})
    got = []
    with Consumer(conn.channel(), [q], callbacks=[lambda b, m: got.append(b)]):
        while not got:
            conn.drain_events(timeout=2)
    print(got, flush=True)
    os._exit(0)
""")
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
        assert "ours" in out.stdout, out.stderr[-2000:]
        time.sleep(1.1)
        got = kombu5(
            kombu57,
            op="consume",
            url=redis_url,
            count=1,
            options={"visibility_timeout": 1, "unacked_restore_throttle": 1},
            **names,
        )
        assert [(g["body"], g["redelivered"]) for g in got] == [({"v": "ours"}, True)]
    finally:
        _cleanup(redis_url, names)


def test_fanout_same_channels_both_ways(kombu57: Path, redis_url: str, names: dict[str, str]) -> None:
    fx = Exchange(names["exchange"], "fanout")
    ours_q = Queue(names["queue"] + "ours", fx)
    kombu_q = names["queue"] + "k5"
    proc = subprocess.Popen(
        [
            str(kombu57),
            "-c",
            KOMBU5,
            json.dumps(
                {
                    "op": "fanout-listen",
                    "url": redis_url,
                    "queue": kombu_q,
                    "exchange": names["exchange"],
                    "type": "fanout",
                    "rk": "",
                    "count": 2,
                }
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        got: list[Any] = []
        with Connection(redis_url) as conn:
            with Consumer(conn.channel(), [ours_q], callbacks=[lambda b, m: (got.append(b), m.ack())]):
                for _ in range(3):
                    try:
                        conn.drain_events(timeout=0.1)
                    except TimeoutError:
                        pass
                Producer(conn.channel(), exchange=fx).publish({"from": "ours"})
                kombu5(
                    kombu57,
                    op="publish",
                    url=redis_url,
                    type="fanout",
                    rk="",
                    messages=[{"body": {"from": "kombu5"}}],
                    queue=names["queue"] + "pub",
                    exchange=names["exchange"],
                )
                deadline = time.monotonic() + 5
                while len(got) < 2 and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.3)
                    except TimeoutError:
                        pass
        theirs = json.loads(proc.communicate(timeout=15)[0])
        assert sorted(g["from"] for g in got) == ["kombu5", "ours"]
        assert sorted(g["from"] for g in theirs) == ["kombu5", "ours"]
    finally:
        proc.kill()
        _cleanup(redis_url, names)


def test_global_keyprefix_and_priority_order_kombu(
    kombu57: Path, redis_url: str, names: dict[str, str], rclient: Any
) -> None:
    """Both sides with a key prefix; ours set to Kombu's priority order agrees with Kombu."""
    opts = {"global_keyprefix": names["queue"] + ":"}
    try:
        msgs = [{"body": {"n": i}, "priority": p} for i, p in enumerate([9, 0, 5])]
        kombu5(kombu57, op="publish", url=redis_url, messages=msgs, max_priority=10, options=opts, **names)
        assert rclient.exists(opts["global_keyprefix"] + "_kombu.binding." + names["exchange"])
        assert rclient.llen(opts["global_keyprefix"] + names["queue"]) == 1
        got = _our_consume(redis_url, names, 3, max_priority=10, options={**opts, "priority_order": "kombu"})
        assert [g["body"]["n"] for g in got] == [1, 2, 0]  # lowest step first, as Kombu
        assert not rclient.hlen(opts["global_keyprefix"] + "unacked")
    finally:
        for k in rclient.scan_iter(match=opts["global_keyprefix"] + "*"):
            rclient.delete(k)
