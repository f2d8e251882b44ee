#!/usr/bin/env python3
"""The raw-pymongo baseline for mongodb:// benchmarks: what the server does with no kombu at all.

    .venv/bin/python bench/raw_mongodb.py --url mongodb://127.0.0.1:27017/kombu_bench --repeat 3

Scenarios, as kbench names them (same message body: a small JSON object):

* ``publish``: ``insert_one({queue, payload, priority})`` in a loop (Kombu 5.7's document);
* ``consume``: the queue pre-filled (untimed), then ``find_one_and_delete`` sorted by
  priority in a loop until empty (Kombu 5.7's fetch; no acks, no leases: a consumer
  that dies loses what it fetched);
* ``roundtrip``: one ``insert_one`` then one ``find_one_and_delete`` per message.

Prints one JSON line per scenario in kbench's format (``bench: "kbench"``, ``impl``,
``scenario``, ``n``, ``msgs_per_s.median``, ``cpu_us_per_msg_median``), so ``bench/run.py
--both`` runs it as the raw baseline of ``mongodb://`` URLs, interleaved with the kombu runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

SORT = [("priority", 1), ("_id", 1)]


def body(i: int) -> str:
    return json.dumps(
        {
            "body": json.dumps({"i": i, "payload": "x" * 64}),
            "content-type": "application/json",
            "content-encoding": "utf-8",
            "headers": {},
            "properties": {"priority": 0},
        }
    )


def run(collection: Any, scenario: str, n: int) -> tuple[float, float]:
    """One timed run; returns (msgs/s, CPU µs per message of this process)."""
    queue = f"raw.{scenario}.{uuid.uuid4().hex[:8]}"
    insert, take = collection.insert_one, collection.find_one_and_delete
    try:
        if scenario == "consume":
            collection.insert_many([{"queue": queue, "payload": body(i), "priority": 9} for i in range(n)])
        cpu, start = time.process_time(), time.perf_counter()
        if scenario == "publish":
            for i in range(n):
                insert({"queue": queue, "payload": body(i), "priority": 9})
        elif scenario == "consume":
            got = 0
            while take({"queue": queue}, sort=SORT) is not None:
                got += 1
            assert got == n, (got, n)
        elif scenario == "roundtrip":
            for i in range(n):
                insert({"queue": queue, "payload": body(i), "priority": 9})
                json.loads(take({"queue": queue}, sort=SORT)["payload"])
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return n / elapsed, cpu / n * 1e6
    finally:
        collection.delete_many({"queue": queue})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/kombu_bench")
    parser.add_argument("--scenario", default="publish,consume,roundtrip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", default="1000", help="messages per run, or 'auto' (about --seconds)")
    parser.add_argument("--seconds", type=float, default=2.5)
    # Accepted so that bench/run.py can call this script where it calls kbench.py --raw.
    parser.add_argument("--warmup", default="0")
    parser.add_argument("--delivery-mode", default="persistent")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()

    import pymongo

    client = pymongo.MongoClient(args.url, serverSelectionTimeoutMS=5000)
    database = client.get_default_database("kombu_bench")
    collection = database["raw_messages"]
    collection.create_index([("queue", 1), ("priority", 1)])
    try:
        for scenario in args.scenario.split(","):
            if args.n == "auto":
                rate, _ = run(collection, scenario, 200)
                n = max(200, int(rate * args.seconds))
            else:
                n = int(args.n)
            rates, cpus = [], []
            for _ in range(args.repeat):
                rate, cpu = run(collection, scenario, n)
                rates.append(rate)
                cpus.append(cpu)
            # kbench's line format, so bench/run.py files it beside the kombu runs.
            print(
                json.dumps(
                    {
                        "bench": "kbench",
                        "impl": "raw-pymongo",
                        "scenario": scenario,
                        "n": n,
                        "msgs_per_s": {
                            "median": round(statistics.median(rates), 1),
                            "runs": [round(r, 1) for r in rates],
                        },
                        "cpu_us_per_msg_median": round(statistics.median(cpus), 1),
                    }
                ),
                flush=True,
            )
    finally:
        client.close()


if __name__ == "__main__":
    main()
