#!/usr/bin/env python3
"""Raw-HTTP baseline for couchdb://: what the server gives a plain loop with the same client.

    .venv/bin/python bench/raw_couchdb.py --url http://127.0.0.1:5984/kbench --n 500 --repeat 3

Scenarios, with ``requests`` (one pooled session, as the transport uses), in the
database of --url, the one kbench's runs use (created if missing, with the transport's
view), so that both write into a database in the same state: pouchdb-server's writes
slow down as a database collects deleted documents, and kbench's database collects them
over a run. Each run stores its documents under a queue name of its own and deletes
what it left afterwards, as kbench deletes its queues:

  publish   N x PUT one ~100 B JSON document (client-chosen id).
  consume   N documents pre-written (untimed, _bulk_docs), then per message: the
            transport's view (limit 1, include_docs), PUT the claim with its _rev,
            DELETE it with the new _rev (claim-and-delete).
  roundtrip publish 100, then claim-and-delete those 100, until N.

Prints one JSON line per scenario in kbench's line format (msgs/s median and runs over
--repeat, CPU µs/msg of this process, median), so bench/run.py can call it where it calls
``kbench.py --raw`` (it accepts kbench's other arguments too). Standard library plus
requests; an interpreter without requests (the Kombu 5.7 reference venv) re-runs the script
with this project's .venv/bin/python.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid

try:
    import requests
except ImportError:  # e.g. .venv-kombu57: run with the project's interpreter, same client
    _VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv")
    if os.path.exists(_VENV) and os.path.realpath(sys.prefix) != os.path.realpath(_VENV):
        _OURS = os.path.join(_VENV, "bin", "python")
        os.execv(_OURS, [_OURS, os.path.abspath(__file__), *sys.argv[1:]])
    raise

# The transport's view (kombu_transport_couchdb.documents.DESIGN_DOC), written out here so
# the baseline runs without the transport installed.
DESIGN = {
    "_id": "_design/kombu_v2",
    "views": {
        "messages": {
            "reduce": "_count",
            "map": (
                "function (doc) {"
                " if (typeof doc.queue !== 'string' || typeof doc.rank !== 'number'"
                " || typeof doc.visible !== 'number') { return; }"
                " if (doc.visible === 0) { emit(['r', doc.queue, doc.rank, doc.seq], doc._rev); }"
                " else { emit(['w', doc.queue, doc.visible], doc._rev); } }"
            ),
        }
    },
}


class Raw:
    def __init__(self, base, database):
        self.base = base.rstrip("/")
        self.db = f"{self.base}/{database}"
        self.s = requests.Session()
        self.queue = None

    def fresh_db(self):
        """Start a run: the database and the view exist, the run has a queue name of its own."""
        r = self.s.put(self.db)
        if r.status_code not in (201, 202, 412):
            r.raise_for_status()
        r = self.s.put(self.db + "/_design/kombu_v2", json=DESIGN)
        if r.status_code not in (201, 202, 409):
            r.raise_for_status()
        self.queue = f"raw-{uuid.uuid4().hex[:10]}"

    def drop_db(self):
        """End a run: delete the documents it left (the database stays, as kbench's does)."""
        prefix = f"raw.{self.queue}:"
        params = {"startkey": json.dumps(prefix), "endkey": json.dumps(prefix + "\ufff0")}
        rows = self.s.get(self.db + "/_all_docs", params=params).json().get("rows", [])
        doomed = [{"_id": r["id"], "_rev": r["value"]["rev"], "_deleted": True} for r in rows]
        if doomed:
            self.s.post(self.db + "/_bulk_docs", json={"docs": doomed})

    def doc(self, i):
        return {"queue": self.queue, "rank": 255, "seq": i, "visible": 0, "payload": {"seq": i, "pad": "x" * 80}}

    def new_id(self):
        return f"raw.{self.queue}:{uuid.uuid4().hex}"

    def put_one(self, i):
        r = self.s.put(f"{self.db}/{self.new_id()}", json=self.doc(i))
        r.raise_for_status()

    def claim_delete(self):
        params = {
            "startkey": json.dumps(["r", self.queue]),
            "endkey": json.dumps(["r", self.queue, {}]),
            "reduce": "false",
            "limit": 1,
            "include_docs": "true",
        }
        rows = self.s.get(self.db + "/_design/kombu_v2/_view/messages", params=params).json()["rows"]
        if not rows:
            return False
        d = rows[0]["doc"]
        d["visible"] = time.time() + 60
        r = self.s.put(f"{self.db}/{d['_id']}", json=d)
        if r.status_code == 409:
            return True
        rev = r.json()["rev"]
        self.s.delete(f"{self.db}/{d['_id']}", params={"rev": rev}).raise_for_status()
        return True

    def prefill(self, n):
        for start in range(0, n, 500):
            batch = [{**self.doc(i), "_id": self.new_id()} for i in range(start, min(n, start + 500))]
            self.s.post(self.db + "/_bulk_docs", json={"docs": batch}).raise_for_status()

    # -- scenarios: each returns (seconds, cpu seconds) of the timed region
    def publish(self, n):
        t, c = time.perf_counter(), time.process_time()
        for i in range(n):
            self.put_one(i)
        return time.perf_counter() - t, time.process_time() - c

    def consume(self, n):
        self.prefill(n)
        t, c = time.perf_counter(), time.process_time()
        done = 0
        while done < n:
            if self.claim_delete():
                done += 1
        return time.perf_counter() - t, time.process_time() - c

    def roundtrip(self, n):
        t, c = time.perf_counter(), time.process_time()
        sent = 0
        while sent < n:
            batch = min(100, n - sent)
            for i in range(batch):
                self.put_one(sent + i)
            got = 0
            while got < batch:
                if self.claim_delete():
                    got += 1
            sent += batch
        return time.perf_counter() - t, time.process_time() - c


def run(raw, scenario, n):
    raw.fresh_db()
    try:
        secs, cpu = getattr(raw, scenario)(n)
    finally:
        raw.drop_db()
    return n / secs, cpu / n * 1e6


def server_url(url):
    """``couchdb://[user:pass@]host[:port]/db`` or ``http://host:port/db`` -> (``http://host:port``, db)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    scheme = "https" if u.scheme in ("couchdbs", "https") else "http"
    database = u.path.strip("/") or "kombu_default"
    return f"{scheme}://{u.hostname or '127.0.0.1'}:{u.port or 5984}", database


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--url", default="http://127.0.0.1:5984/kbench", help="couchdb://host:port/db or http://host:port/db"
    )
    ap.add_argument("--scenario", default="publish,consume,roundtrip")
    ap.add_argument("--n", default="500", help="messages per timed run, or 'auto' (about --seconds)")
    ap.add_argument("--seconds", type=float, default=2.5)
    ap.add_argument("--repeat", type=int, default=3)
    # Accepted so that bench/run.py can call this script where it calls kbench.py --raw.
    ap.add_argument("--warmup", default="0")
    ap.add_argument("--delivery-mode", default="persistent")
    ap.add_argument("--raw", action="store_true")
    args = ap.parse_args(argv)
    raw = Raw(*server_url(args.url))
    for scenario in args.scenario.split(","):
        if scenario not in ("publish", "consume", "roundtrip"):
            continue
        if args.n == "auto":
            rate, _ = run(raw, scenario, 100)
            n = max(100, int(rate * args.seconds))
        else:
            n = int(args.n)
        rates, cpus = [], []
        for _ in range(args.repeat):
            rate, cpu = run(raw, scenario, n)
            rates.append(rate)
            cpus.append(cpu)
        # kbench's line format, so bench/run.py files it beside the kombu runs.
        print(
            json.dumps(
                {
                    "bench": "kbench",
                    "impl": "raw-couchdb-requests",
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
