"""Wire compatibility with Kombu 5.7.0 on the same moto server, both directions.

Kombu 5.7.0 runs in its own virtual environment (``.venv-kombu57``, made by
``scripts/reference-venv.sh``) in a subprocess; this process runs ours.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import URL, boto_client, drain_until

ROOT = Path(__file__).resolve().parents[2]
KOMBU57 = ROOT / ".venv-kombu57" / "bin" / "python"
OPTS = {"wait_time_seconds": 1, "visibility_timeout": 10}

KOMBU5 = r"""
import json, sys, time
from kombu import Connection, Consumer, Exchange, Producer, Queue
cmd = json.loads(sys.argv[1])
q = Queue(cmd["queue"], Exchange(cmd["queue"] + "-x", "direct"), routing_key=cmd["queue"])
with Connection(cmd["url"], transport_options=cmd["opts"]) as conn:
    if cmd["op"] == "publish":
        producer = Producer(conn.channel(), exchange=q.exchange)
        for m in cmd["messages"]:
            body = bytes.fromhex(m["hex"]) if "hex" in m else m["body"]
            producer.publish(body, routing_key=q.routing_key, declare=[q], **m.get("kw", {}))
    else:
        got = []
        def on_message(body, message):
            got.append({"body": body.hex() if isinstance(body, bytes) else body,
                        "headers": message.headers, "content_type": message.content_type,
                        "correlation_id": message.properties.get("correlation_id")})
            message.ack()
        with Consumer(conn.channel(), [q], callbacks=[on_message]):
            deadline = time.monotonic() + 20
            while len(got) < cmd["count"] and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except Exception:
                    pass
        print(json.dumps(got))
"""


@pytest.fixture(scope="module")
def kombu57() -> Path:
    if not KOMBU57.exists():
        pytest.skip("Kombu 5.7.0 reference venv missing (make reference)")
    return KOMBU57


@pytest.fixture
def qname(request: Any) -> Iterator[str]:
    fifo = getattr(request, "param", False)
    name = f"t-wire-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
    yield name
    client = boto_client()
    try:
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
    except Exception:  # noqa: BLE001 - cleanup
        pass


def kombu5(python: Path, **cmd: Any) -> Any:
    cmd.setdefault("url", URL)
    cmd.setdefault("opts", OPTS)
    proc = subprocess.run([str(python), "-c", KOMBU5, json.dumps(cmd)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    return json.loads(out) if out else None


def _queue(name: str) -> Queue:
    return Queue(name, Exchange(name + "-x", "direct"), routing_key=name)


MESSAGES = [
    {"body": {"n": 1, "text": "héllo"}, "kw": {"headers": {"h": {"x": [1, 2]}}, "correlation_id": "c-1"}},
    {"hex": bytes(range(200)).hex(), "kw": {"content_type": "application/x-bin", "content_encoding": "binary"}},
    {"body": "plain text", "kw": {}},
]


def _expected() -> list[dict[str, Any]]:
    return [
        {
            "body": {"n": 1, "text": "héllo"},
            "headers": {"h": {"x": [1, 2]}},
            "content_type": "application/json",
            "correlation_id": "c-1",
        },
        {"body": bytes(range(200)).hex(), "headers": {}, "content_type": "application/x-bin", "correlation_id": None},
        {"body": "plain text", "headers": {}, "content_type": "text/plain", "correlation_id": None},
    ]


def _consume(name: str, count: int, opts: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def on_message(body: Any, message: Any) -> None:
        got.append(
            {
                "body": body.hex() if isinstance(body, bytes) else body,
                "headers": message.headers,
                "content_type": message.content_type,
                "correlation_id": message.properties.get("correlation_id"),
            }
        )
        message.ack()

    with Connection(URL, transport_options=opts or OPTS) as conn:
        with Consumer(conn.channel(), [_queue(name)], callbacks=[on_message]):
            drain_until(conn, lambda: len(got) >= count, 20)
    return got


def _publish(name: str, messages: list[dict[str, Any]]) -> None:
    q = _queue(name)
    with Connection(URL, transport_options=OPTS) as conn:
        producer = Producer(conn.channel(), exchange=q.exchange)
        for m in messages:
            body = bytes.fromhex(m["hex"]) if "hex" in m else m["body"]
            producer.publish(body, routing_key=q.routing_key, declare=[q], **m.get("kw", {}))


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda m: json.dumps(m, sort_keys=True))


def test_kombu5_publishes_we_consume(kombu57: Path, qname: str) -> None:
    kombu5(kombu57, op="publish", queue=qname, messages=MESSAGES)
    assert _sorted(_consume(qname, 3)) == _sorted(_expected())


def test_we_publish_kombu5_consumes(kombu57: Path, qname: str) -> None:
    _publish(qname, MESSAGES)
    got = kombu5(kombu57, op="consume", queue=qname, count=3)
    assert _sorted(got) == _sorted(_expected())


def test_kombu5_without_base64_we_consume(kombu57: Path, qname: str) -> None:
    kombu5(kombu57, op="publish", queue=qname, messages=MESSAGES, opts={**OPTS, "sqs_base64_encoding": False})
    assert _sorted(_consume(qname, 3)) == _sorted(_expected())


FIFO = [{"body": i, "kw": {"MessageGroupId": "g1"}} for i in range(6)]


@pytest.mark.parametrize("qname", [True], indirect=True)
def test_fifo_kombu5_publishes_we_consume_in_order(kombu57: Path, qname: str) -> None:
    kombu5(kombu57, op="publish", queue=qname, messages=FIFO)
    assert [m["body"] for m in _consume(qname, 6)] == list(range(6))


@pytest.mark.parametrize("qname", [True], indirect=True)
def test_fifo_we_publish_kombu5_consumes_in_order(kombu57: Path, qname: str) -> None:
    _publish(qname, FIFO)
    got = kombu5(kombu57, op="consume", queue=qname, count=6)
    assert [m["body"] for m in got] == list(range(6))


@pytest.mark.parametrize("qname", [True], indirect=True)
def test_fifo_deduplication_id_from_properties(qname: str) -> None:
    _publish(
        qname,
        [
            {"body": "once", "kw": {"MessageGroupId": "g", "MessageDeduplicationId": "d1"}},
            {"body": "once", "kw": {"MessageGroupId": "g", "MessageDeduplicationId": "d1"}},
            {"body": "two", "kw": {"MessageGroupId": "g"}},
        ],
    )
    got = _consume(qname, 3, opts={**OPTS, "wait_time_seconds": 1})
    assert [m["body"] for m in got] == ["once", "two"]


def test_message_body_is_kombu5s_base64_envelope(qname: str) -> None:
    """The SQS body is base64 of the JSON envelope, as Kombu 5.7 writes it."""
    import base64

    _publish(qname, [{"body": {"k": "v"}, "kw": {}}])
    client = boto_client()
    url = client.get_queue_url(QueueName=qname)["QueueUrl"]
    records = client.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(base64.b64decode(records[0]["Body"]))
    assert set(envelope) >= {"body", "content-type", "content-encoding", "headers", "properties"}
    assert envelope["properties"]["delivery_info"]["routing_key"] == qname
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    assert json.loads(body) == {"k": "v"}


@pytest.mark.parametrize("qname", [True], indirect=True)
def test_fifo_content_based_deduplication_is_honoured(qname: str) -> None:
    """Without a MessageDeduplicationId a content-deduplicating FIFO queue drops the copy."""
    opts = {**OPTS, "sqs-creation-attributes": {"ContentBasedDeduplication": "true"}}
    q = _queue(qname)
    with Connection(URL, transport_options=opts) as conn:
        producer = Producer(conn.channel(), exchange=q.exchange)
        for body in ("same", "same", "other"):
            producer.publish(body, routing_key=q.routing_key, declare=[q], MessageGroupId="g")
    assert [m["body"] for m in _consume(qname, 3, opts=opts)] == ["same", "other"]
