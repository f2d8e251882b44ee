#!/usr/bin/env python3
"""The raw-greenstalk baseline for beanstalk:// benchmarks: beanstalkd with no kombu at all.

    .venv/bin/python bench/raw_beanstalk.py --url beanstalk://127.0.0.1:11300 --repeat 3 --n 10000

Scenarios, as kbench names them (a body of the size of kbench's messages wrapped in
an envelope like the transport's, so both move the same bytes):

* ``publish``: ``put`` in a loop, then one ``stats-tube`` (the server has seen every put);
* ``consume``: the tube pre-filled (untimed), then ``reserve`` + ``delete`` (the ack)
  per job until N were taken;
* ``roundtrip``: ``put`` 100 jobs, then ``reserve`` + ``delete`` those 100, until N.

Prints one line per scenario in kbench's format (``msgs_per_s`` median/min/max over
``--repeat`` runs, ``cpu_us_per_msg_median``: this process's CPU per message, steadier
than rates on a busy machine), so bench/run.py can run it as the raw baseline of
beanstalk:// (it takes kbench's arguments; greenstalk comes from the project's .venv
when the interpreter running it lacks it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlparse

BATCH = 100


def body(i: int) -> bytes:
    inner = json.dumps({"i": i, "payload": "x" * 64})
    return json.dumps(
        {
            "body": inner,
            "content-type": "application/json",
            "content-encoding": "utf-8",
            "headers": {},
            "properties": {"priority": 0, "delivery_info": {}},
            "queue": "q",
        }
    ).encode()


def run(address: tuple[str, int], scenario: str, n: int) -> tuple[float, float]:
    """Run ``scenario`` with ``n`` messages; return (msgs/s, CPU µs per message)."""
    tube = f"raw-{scenario}-{uuid.uuid4().hex[:8]}"
    import greenstalk

    client: Any = greenstalk.Client(address, encoding=None, use=tube, watch=tube)
    put, reserve, delete = client.put, client.reserve, client.delete
    try:
        if scenario == "publish":
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                put(body(i))
            assert client.stats_tube(tube)["current-jobs-ready"] == n
        elif scenario == "consume":
            for i in range(n):
                put(body(i))
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                job = reserve(1)
                json.loads(job.body)
                delete(job)
        elif scenario == "roundtrip":
            start, cpu = time.perf_counter(), time.process_time()
            done = 0
            while done < n:
                for i in range(BATCH):
                    put(body(done + i))
                for _ in range(BATCH):
                    job = reserve(1)
                    json.loads(job.body)
                    delete(job)
                done += BATCH
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
        return n / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / n
    finally:
        try:
            while True:
                client.delete(client.peek_ready())
        except greenstalk.NotFoundError:
            pass
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="beanstalk://127.0.0.1:11300")
    parser.add_argument("--scenario", default="publish,consume,roundtrip")
    parser.add_argument("--n", default="auto", help="messages per run, or 'auto' (about --seconds)")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--repeat", type=int, default=3)
    # Accepted so that bench/run.py can call this script where it calls kbench.py --raw.
    parser.add_argument("--warmup", default="0")
    parser.add_argument("--delivery-mode", default="persistent")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    parts = urlparse(args.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 11300)
    for scenario in args.scenario.split(","):
        if args.n == "auto":
            rate, _ = run(address, scenario, 1000)
            n = max(BATCH, int(rate * args.seconds) // BATCH * BATCH)
        else:
            n = int(args.n)
        rates, cpus = [], []
        for _ in range(args.repeat):
            rate, cpu = run(address, scenario, n)
            rates.append(rate)
            cpus.append(cpu)
        # kbench's line format, so bench/run.py files it beside the kombu runs.
        print(
            json.dumps(
                {
                    "bench": "kbench",
                    "impl": "raw-greenstalk",
                    "scenario": scenario,
                    "n": n,
                    "msgs_per_s": {
                        "median": round(statistics.median(rates), 1),
                        "min": round(min(rates), 1),
                        "max": round(max(rates), 1),
                    },
                    "runs_msgs_per_s": [round(r, 1) for r in rates],
                    "cpu_us_per_msg_median": round(statistics.median(cpus), 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    if importlib.util.find_spec("greenstalk") is None:
        # bench/run.py runs raw baselines with the reference venv's python: use the project's.
        venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv")
        if os.path.abspath(sys.prefix) != venv and os.path.exists(os.path.join(venv, "bin", "python")):
            os.execv(os.path.join(venv, "bin", "python"), [os.path.join(venv, "bin", "python"), *sys.argv])
    main()
