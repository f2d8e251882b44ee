"""Queue policies across processes on redis://: every process sees a queue's limits.

A queue's policy arguments live in Redis (``_kombu.arguments.<queue>``) and
exchanges with a length-limited queue bound to them are listed in
``_kombu.limited_exchanges``, so a process that never declared the queue
still enforces ``x-max-length``/``x-overflow`` and message TTL. The other
processes are real ones (:mod:`other_process`): connections of one process
share their broker state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Queue

HELPER = Path(__file__).with_name("other_process.py")


def _elsewhere(redis_url: str, uname: str, action: str, **spec: Any) -> Any:
    out = subprocess.run(
        [sys.executable, str(HELPER), redis_url, f"{uname}:", action, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout) if action == "drain" else None


def _declare(redis_url: str, uname: str, **kwargs: Any) -> None:
    _elsewhere(redis_url, uname, "declare", queue=uname, kwargs=kwargs)


def _publish(redis_url: str, uname: str, bodies: list[Any], exchange: str) -> None:
    _elsewhere(redis_url, uname, "publish", exchange=exchange, routing_key=uname, bodies=bodies)


def _drain(redis_url: str, uname: str) -> Any:
    return _elsewhere(redis_url, uname, "drain", queue=uname)


def test_drop_head_holds_for_a_publisher_that_never_declared_the_queue(redis_url: str, uname: str) -> None:
    _declare(redis_url, uname, max_length=2)
    _publish(redis_url, uname, [0, 1, 2, 3, 4], exchange=uname)
    assert _drain(redis_url, uname) == [3, 4]


def test_reject_publish_holds_on_the_default_exchange_elsewhere(redis_url: str, uname: str) -> None:
    _declare(redis_url, uname, max_length=2, queue_arguments={"x-overflow": "reject-publish"})
    _publish(redis_url, uname, [0, 1, 2, 3], exchange="")
    assert _drain(redis_url, uname) == [0, 1]


def test_limit_declared_after_a_publisher_started_is_honoured(redis_url: str, uname: str) -> None:
    with Connection(redis_url, transport_options={"global_keyprefix": f"{uname}:"}) as conn:
        producer = conn.Producer()
        producer.channel.limits_recheck = 0.2
        producer.publish("early", exchange=Exchange(uname, "direct"), routing_key="nowhere")
        _declare(redis_url, uname, max_length=1)
        time.sleep(0.4)  # past limits_recheck
        for i in range(3):
            producer.publish(i, exchange=uname, routing_key=uname)
    assert _drain(redis_url, uname) == [2]


def test_message_ttl_holds_for_a_consumer_that_never_declared_the_queue(redis_url: str, uname: str) -> None:
    _declare(redis_url, uname, message_ttl=3)
    _publish(redis_url, uname, ["stale"], exchange=uname)
    time.sleep(3.5)
    _publish(redis_url, uname, ["fresh"], exchange=uname)  # a process start is < 3 s
    assert _drain(redis_url, uname) == ["fresh"]


def test_stored_arguments_follow_the_queue(redis_url: str, rclient: Any, uname: str) -> None:
    key = f"{uname}:_kombu.arguments.{uname}"
    _declare(redis_url, uname, max_length=5)
    assert json.loads(rclient.get(key)) == {"x-max-length": 5}
    _declare(redis_url, uname)  # redeclared without limits
    assert rclient.get(key) is None
    _publish(redis_url, uname, list(range(7)), exchange="")
    assert len(_drain(redis_url, uname)) == 7
    queue = Queue(uname, Exchange(uname, "direct"), uname, max_length=5)
    with Connection(redis_url, transport_options={"global_keyprefix": f"{uname}:"}) as conn:
        queue(conn.default_channel).declare()
        assert rclient.get(key) is not None
        queue(conn.default_channel).delete()
    assert rclient.get(key) is None


def test_expiring_queue_arguments_expire_with_it(redis_url: str, rclient: Any, uname: str) -> None:
    _declare(redis_url, uname, max_length=5, expires=60)
    assert 0 < rclient.pttl(f"{uname}:_kombu.arguments.{uname}") <= 60_000
