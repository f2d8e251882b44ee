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
"""

from __future__ import annotations

import argparse
import base64
import json
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


def run(client: Any, scenario: str, n: int) -> tuple[float, float]:
    url = client.create_queue(QueueName=f"raw-{scenario}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        if scenario == "consume":
            for start in range(0, n, 10):
                client.send_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "MessageBody": body(i)} for i in range(start, min(start + 10, n))],
                )
        t0, c0 = time.perf_counter(), time.process_time()
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
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return n / wall, cpu / n * 1e6
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
    args = parser.parse_args()

    import boto3

    endpoint, key, secret = endpoint_of(args.url)
    client = boto3.client(
        "sqs", endpoint_url=endpoint, region_name=args.region, aws_access_key_id=key, aws_secret_access_key=secret
    )
    for scenario in args.scenario.split(","):
        if args.n == "auto":
            rate, _ = run(client, scenario, 100)
            n = max(100, int(rate * args.seconds))
        else:
            n = int(args.n)
        rates, cpus = [], []
        for _ in range(args.repeat):
            rate, cpu = run(client, scenario, n)
            rates.append(rate)
            cpus.append(cpu)
        print(
            json.dumps(
                {
                    "bench": "kbench",
                    "impl": "raw-boto3",
                    "scenario": scenario,
                    "n": n,
                    "msgs_per_s": {"median": round(statistics.median(rates), 1), "runs": [round(r, 1) for r in rates]},
                    "cpu_us_per_msg_median": round(statistics.median(cpus), 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
