#!/usr/bin/env python3
"""The raw-boto3 baseline for sqs:// benchmarks: what SQS costs with no kombu at all.

    .venv/bin/python bench/raw_sqs.py --url sqs://kombu:secret@127.0.0.1:5000 --n 300 --repeat 3

``bench/run.py --both`` runs it as the raw baseline of ``sqs://`` URLs (it takes
kbench's arguments and prints kbench's line format).

Scenarios, as kbench names them (same message body: a ~100 B JSON object, base64
encoded as Kombu writes it):

* ``publish``: one ``SendMessage`` per message (what a publish that must be on the
  broker when it returns costs);
* ``consume``: the queue pre-filled (untimed, ``SendMessageBatch``), then
  ``ReceiveMessage(MaxNumberOfMessages=10)`` + ``DeleteMessageBatch`` of what came, in
  a loop until every message was received and deleted (the physical limit of
  at-least-once consuming on SQS);
* ``roundtrip``: publish 100 (``SendMessage`` each), receive and delete those 100 as
  above, repeat.

Prints one JSON line per scenario in kbench's format (``bench: "kbench"``, ``impl``,
``scenario``, ``n``, ``msgs_per_s.median``, ``cpu_us_per_msg_median``: this process's
user+sys CPU per message in the timed region).

What the server costs: with ``--server-pid PID`` (the moto server's process) each line
also has ``server_cpu_us_per_msg_median``, the server's CPU per message in the timed
region; a client cannot go faster than ``1e6 / server_cpu_us_per_msg`` msgs/s while
the server runs on one core. ``--kombu`` runs the same scenarios through the Kombu API
of whichever ``kombu`` the interpreter imports (kbench's pattern: prefetch 100, ack
each, roundtrip in batches of 100), so this project and Kombu 5.7.0 are measured the
same way::

    PID=$(pgrep -f 'moto_server -H 127.0.0.1 -p 5077')
    .venv/bin/python bench/raw_sqs.py --url sqs://kombu:secret@127.0.0.1:5077 --server-pid $PID
    .venv/bin/python bench/raw_sqs.py --url sqs://kombu:secret@127.0.0.1:5077 --server-pid $PID --kombu
    .venv-kombu57/bin/python bench/raw_sqs.py --url sqs://kombu:secret@127.0.0.1:5077 --server-pid $PID --kombu
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlparse


def body(i: int) -> str:
    inner = json.dumps({"i": i, "payload": "x" * 64})
    envelope = {
        "body": inner,
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {},
        "properties": {"priority": 0, "delivery_info": {}},
    }
    return base64.b64encode(json.dumps(envelope).encode()).decode()


def drain(client: Any, url: str, n: int) -> int:
    """Receive (10 at a time) and batch-delete until ``n`` messages were taken."""
    got = 0
    while got < n:
        records = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages") or []
        if not records:
            continue
        for r in records:
            json.loads(base64.b64decode(r["Body"]))
        client.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(k), "ReceiptHandle": r["ReceiptHandle"]} for k, r in enumerate(records)]
        )
        got += len(records)
    return got


class ServerClock:
    """CPU seconds (user+sys) used so far by the server process ``pid`` (0: not measured)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        if not self.pid:
            return 0.0
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick


def run_kombu(url: str, scenario: str, n: int, server: ServerClock) -> tuple[float, float, float]:
    """One timed run through the Kombu API: (msgs/s, client CPU us/msg, server CPU us/msg)."""
    from kombu import Connection, Consumer, Exchange, Producer, Queue

    name = f"kraw-{scenario}-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name + "-x", "direct"), routing_key=name)
    with Connection(url) as conn:
        bound = queue(conn.channel())
        bound.declare()
        producer = Producer(conn.channel(), exchange=queue.exchange, routing_key=name, serializer="json")
        seen = [0]

        def on_message(body: Any, message: Any) -> None:
            message.ack()
            seen[0] += 1

        def drain(target: int) -> None:
            while seen[0] < target:
                conn.drain_events(timeout=10)

        consumer = Consumer(conn.channel(), [queue], accept=["json"], callbacks=[on_message])
        consumer.qos(prefetch_count=100)
        if scenario == "consume":
            for i in range(n):
                producer.publish({"i": i, "payload": "x" * 64})
        t0, c0, s0 = time.perf_counter(), time.process_time(), server()
        if scenario == "publish":
            for i in range(n):
                producer.publish({"i": i, "payload": "x" * 64})
        elif scenario == "consume":
            consumer.consume()
            drain(n)
        elif scenario == "roundtrip":
            consumer.consume()
            for start in range(0, n, 100):
                for i in range(start, min(start + 100, n)):
                    producer.publish({"i": i, "payload": "x" * 64})
                drain(min(start + 100, n))
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        wall, cpu, scpu = time.perf_counter() - t0, time.process_time() - c0, server() - s0
        consumer.cancel()
        bound.delete()
    return n / wall, cpu / n * 1e6, scpu / n * 1e6


def run(client: Any, scenario: str, n: int, server: ServerClock | None = None) -> tuple[float, float, float]:
    url = client.create_queue(QueueName=f"raw-{scenario}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        if scenario == "consume":
            for start in range(0, n, 10):
                client.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "MessageBody": body(i)} for i in range(start, min(start + 10, n))],
                )
        server = server or ServerClock(0)
        t0, c0, s0 = time.perf_counter(), time.process_time(), server()
        if scenario == "publish":
            for i in range(n):
                client.send_message(QueueUrl=url, MessageBody=body(i))
        elif scenario == "consume":
            drain(client, url, n)
        elif scenario == "roundtrip":
            done = 0
            while done < n:
                batch = min(100, n - done)
                for i in range(batch):
                    client.send_message(QueueUrl=url, MessageBody=body(i))
                done += drain(client, url, batch)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        wall, cpu, scpu = time.perf_counter() - t0, time.process_time() - c0, server() - s0
        return n / wall, cpu / n * 1e6, scpu / n * 1e6
    finally:
        client.delete_queue(QueueUrl=url)


def endpoint_of(url: str) -> tuple[str | None, str, str]:
    """``(endpoint URL or None, key, secret)`` of an ``sqs://KEY:SECRET@host:port`` URL."""
    parts = urlparse(url)
    endpoint = f"http://{parts.hostname}:{parts.port or 80}" if parts.hostname else None
    return endpoint, unquote(parts.username or "bench"), unquote(parts.password or "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqs://bench:bench@127.0.0.1:5000")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--scenario", default="publish,consume,roundtrip")
    parser.add_argument("--n", default="300", help="messages per run, or 'auto' (about --seconds)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.5)
    # Accepted so that bench/run.py can call this script where it calls kbench.py --raw.
    parser.add_argument("--warmup", default="0")
    parser.add_argument("--delivery-mode", default="persistent")
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--server-pid", type=int, default=0, help="the server's pid: also report its CPU/msg")
    parser.add_argument("--kombu", action="store_true", help="through the Kombu API instead of raw boto3")
    args = parser.parse_args()
    server = ServerClock(args.server_pid)

    import boto3

    endpoint, key, secret = endpoint_of(args.url)
    client = boto3.client(
        "sqs", endpoint_url=endpoint, region_name=args.region, aws_access_key_id=key, aws_secret_access_key=secret
    )

    def once(scenario: str, n: int) -> tuple[float, float, float]:
        if args.kombu:
            return run_kombu(args.url, scenario, n, server)
        return run(client, scenario, n, server)

    for scenario in args.scenario.split(","):
        if args.n == "auto":
            rate, _, _ = once(scenario, 100)
            n = max(100, int(rate * args.seconds))
        else:
            n = int(args.n)
        runs = [once(scenario, n) for _ in range(args.repeat)]
        rates = [r[0] for r in runs]
        line: dict[str, Any] = {
            "bench": "kbench",
            "impl": "kombu-api" if args.kombu else "raw-boto3",
            "scenario": scenario,
            "n": n,
            "msgs_per_s": {"median": round(statistics.median(rates), 1), "runs": [round(r, 1) for r in rates]},
            "cpu_us_per_msg_median": round(statistics.median(r[1] for r in runs), 1),
        }
        if args.kombu:
            import kombu

            line["kombu"] = f"{kombu.__version__} {os.path.dirname(kombu.__file__)}"
        if args.server_pid:
            line["server_cpu_us_per_msg_median"] = round(statistics.median(r[2] for r in runs), 1)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
