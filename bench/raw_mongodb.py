#!/usr/bin/env python3
"""The raw-pymongo baseline for mongodb:// benchmarks: what the server does with no kombu at all.

    .venv/bin/python bench/raw_mongodb.py --url mongodb://127.0.0.1:27017/kombu_bench --repeat 3

Scenarios, as kbench names them (same message body: a small JSON object):

* ``publish``: ``insert_one({queue, payload, priority})`` in a loop (Kombu 5.7's document);
* ``consume``: the queue pre-filled (untimed), then ``find_one_and_delete`` sorted by
  priority in a loop until empty (Kombu 5.7's fetch; no acks, no leases: a consumer
  that dies loses what it fetched);
* ``roundtrip``: one ``insert_one`` then one ``find_one_and_delete`` per message.

Prints one JSON line per run (``impl``, ``scenario``, ``n``, ``msgs_per_s``) and a
median line per scenario.
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
    return json.dumps({"body": json.dumps({"i": i, "payload": "x" * 64}), "content-type": "application/json",
                       "content-encoding": "utf-8", "headers": {}, "properties": {"priority": 0}})


def run(collection: Any, scenario: str, n: int) -> float:
    queue = f"raw.{scenario}.{uuid.uuid4().hex[:8]}"
    insert, take = collection.insert_one, collection.find_one_and_delete
    try:
        if scenario == "publish":
            start = time.perf_counter()
            for i in range(n):
                insert({"queue": queue, "payload": body(i), "priority": 9})
        elif scenario == "consume":
            collection.insert_many([{"queue": queue, "payload": body(i), "priority": 9} for i in range(n)])
            start = time.perf_counter()
            got = 0
            while take({"queue": queue}, sort=SORT) is not None:
                got += 1
            assert got == n, (got, n)
        elif scenario == "roundtrip":
            start = time.perf_counter()
            for i in range(n):
                insert({"queue": queue, "payload": body(i), "priority": 9})
                json.loads(take({"queue": queue}, sort=SORT)["payload"])
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        return n / (time.perf_counter() - start)
    finally:
        collection.delete_many({"queue": queue})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mongodb://127.0.0.1:27017/kombu_bench")
    parser.add_argument("--scenario", default="publish,consume,roundtrip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    import pymongo

    client = pymongo.MongoClient(args.url, serverSelectionTimeoutMS=5000)
    database = client.get_default_database("kombu_bench")
    collection = database["raw_messages"]
    collection.create_index([("queue", 1), ("priority", 1)])
    try:
        for scenario in args.scenario.split(","):
            rates = []
            for _ in range(args.repeat):
                rate = run(collection, scenario, args.n)
                rates.append(rate)
                print(json.dumps({"impl": "raw-pymongo", "scenario": scenario, "n": args.n,
                                  "msgs_per_s": round(rate, 1)}), flush=True)
            print(json.dumps({"impl": "raw-pymongo", "scenario": scenario, "median_msgs_per_s":
                              round(statistics.median(rates), 1)}), flush=True)
    finally:
        client.close()


if __name__ == "__main__":
    main()
