"""Wire compatibility with Kombu 5.7.0, in both directions, on the same RabbitMQ.

Kombu 5.7.0 runs in a subprocess from the repository's ignored reference
virtual environment ``.venv-kombu57`` (``make reference`` creates it). Without
it the tests skip, or fail when ``CI`` is set.

Each direction compares what a Kombu 5.7.0 consumer (or ours) sees with what
it sees for the same message written by Kombu 5.7.0 itself, so any
difference in properties, headers or body encoding shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.testing.services import missing_service

from .conftest import AMQP_URL, fresh

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / ".venv-kombu57" / "bin" / "python"

HEADERS = {
    "text": "héllo",
    "int": 7,
    "float": 2.5,
    "bool": False,
    "none": None,
    "list": [1, "a", {"n": [True]}],
    "nested": {"k": {"v": 1}},
}
PUBLISH = {
    "headers": HEADERS,
    "priority": 4,
    "correlation_id": "c-1",
    "reply_to": "r",
    "message_id": "m-1",
    "timestamp": 1764219600,
    "type": "t",
    "user_id": "guest",
    "app_id": "interop",
    "expiration": 30,
    "delivery_mode": 2,
}

# Runs under Kombu 5.7.0: ``publish`` or ``consume`` one message; prints JSON.
SCRIPT = textwrap.dedent(
    """
    import json, sys, socket
    from kombu import Connection, Exchange, Queue, Producer, Consumer
    mode, url, exchange, queue, body, publish = sys.argv[1:7]
    ex = Exchange(exchange, "direct", durable=False)
    q = Queue(queue, ex, "key", durable=False, max_priority=10)
    with Connection(url) as conn:
        if mode == "publish":
            Producer(conn.default_channel).publish(
                json.loads(body), exchange=ex, routing_key="key", **json.loads(publish))
            conn.default_channel.queue_declare(queue, passive=True)
            print(json.dumps({"ok": True}))
        else:
            got = []
            with Consumer(conn.channel(), [q], callbacks=[lambda b, m: (got.append((b, m)), m.ack())]):
                while not got:
                    conn.drain_events(timeout=10)
            b, m = got[0]
            print(json.dumps({"body": b, "properties": m.properties, "headers": m.headers,
                              "content_type": m.content_type,
                              "content_encoding": m.content_encoding,
                              "raw": m.body.decode() if isinstance(m.body, bytes) else m.body,
                              "routing_key": m.delivery_info["routing_key"]}, default=repr))
    """
)


def reference_python() -> str:
    if not REFERENCE.exists():
        missing_service(f"no Kombu 5.7.0 reference venv at {REFERENCE} (run `make reference`)")
    return str(REFERENCE)


def kombu57(mode: str, exchange: str, queue: str, body: Any = None) -> dict[str, Any]:
    out = subprocess.run(
        [reference_python(), "-c", SCRIPT, mode, AMQP_URL, exchange, queue, json.dumps(body), json.dumps(PUBLISH)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def entities(names: list[str]) -> tuple[Exchange, Queue]:
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    return exchange, Queue(fresh(names), exchange, "key", durable=False, max_priority=10)


def ours_consume(url: str, queue: Queue) -> dict[str, Any]:
    with Connection(url) as conn:
        got: list[Any] = []
        with Consumer(conn.channel(), [queue], callbacks=[lambda b, m: (got.append((b, m)), m.ack())]):
            while not got:
                conn.drain_events(timeout=10)
        body, m = got[0]
        return json.loads(
            json.dumps(
                {
                    "body": body,
                    "properties": m.properties,
                    "headers": m.headers,
                    "content_type": m.content_type,
                    "content_encoding": m.content_encoding,
                    "raw": m.body.decode() if isinstance(m.body, bytes) else m.body,
                    "routing_key": m.delivery_info["routing_key"],
                },
                default=repr,
            )
        )


def ours_publish(url: str, exchange: Exchange, queue: Queue, body: Any) -> None:
    with Connection(url) as conn:
        queue(conn.default_channel).declare()
        Producer(conn.default_channel).publish(body, exchange=exchange, routing_key="key", **PUBLISH)


BODY = {"n": 1, "s": "ünïcode", "l": [1.5, None]}


@pytest.mark.parametrize("transport", ["amqp", "pika"])
def test_kombu57_reads_what_we_write_exactly_as_its_own(transport: str, names: list[str]) -> None:
    url = AMQP_URL if transport == "amqp" else "pika://" + AMQP_URL.split("://", 1)[1]
    exchange, queue = entities(names)
    ours_publish(url, exchange, queue, BODY)
    from_us = kombu57("consume", exchange.name, queue.name)
    kombu57("publish", exchange.name, queue.name, BODY)
    from_itself = kombu57("consume", exchange.name, queue.name)
    assert from_us == from_itself
    assert from_us["body"] == BODY
    assert from_us["headers"] == HEADERS


@pytest.mark.parametrize("transport", ["amqp", "pika"])
def test_we_read_what_kombu57_writes_exactly_as_our_own(transport: str, names: list[str]) -> None:
    url = AMQP_URL if transport == "amqp" else "pika://" + AMQP_URL.split("://", 1)[1]
    exchange, queue = entities(names)
    with Connection(url) as conn:
        queue(conn.default_channel).declare()
    kombu57("publish", exchange.name, queue.name, BODY)
    from_kombu57 = ours_consume(url, queue)
    ours_publish(url, exchange, queue, BODY)
    from_us = ours_consume(url, queue)
    assert from_kombu57 == from_us
    assert from_kombu57["body"] == BODY
    assert from_kombu57["headers"] == HEADERS
    assert from_kombu57["properties"]["priority"] == 4


def test_reference_is_kombu_570() -> None:
    out = subprocess.run(
        [reference_python(), "-c", "import kombu; print(kombu.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert out.stdout.strip() == "5.7.0", (out.stdout, out.stderr, sys.executable)
