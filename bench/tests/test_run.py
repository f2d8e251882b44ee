"""bench/run.py end to end against a stand-in for kbench.py.

The stand-in prints kbench-shaped JSON lines whose rates depend on which side runs it
(ours 200 msgs/s, Kombu 100), fails or hangs on request, so the runner's alternation,
aggregation, tables and error handling are checked without a broker and without timing
anything.
"""

import importlib.util
import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"

FAKE_KBENCH = textwrap.dedent("""
    import argparse, json, os, sys, time
    SCENARIOS = ('publish', 'consume', 'latency')
    ap = argparse.ArgumentParser()
    for opt in ('--url', '--scenario', '--repeat', '--warmup', '--seconds', '--n',
                '--delivery-mode'):
        ap.add_argument(opt)
    ap.add_argument('--raw', action='store_true')
    a = ap.parse_args()
    side = os.environ.get('FAKE_SIDE', 'ours')
    if a.scenario in os.environ.get('FAKE_FAIL', '').split(','):
        sys.exit('boom: ' + side)
    if a.scenario in os.environ.get('FAKE_HANG', '').split(',') and side == 'ours':
        time.sleep(60)
    with open(os.environ['FAKE_CALLS'], 'a') as fh:
        fh.write(json.dumps([side, a.scenario, a.n, a.raw]) + '\\n')
    rate = {'ours': 200.0, 'ref': 100.0}[side] * (4 if a.raw else 1)
    n = 1000 if a.n == 'auto' else int(a.n)
    line = {'bench': 'kbench', 'url': a.url, 'scenario': a.scenario, 'cpus': 2,
            'impl': 'raw-redis' if a.raw else 'lib', 'library': 'kombu',
            'version': '9.9' if side == 'ours' else '5.7.0', 'n': n, 'repeat': 1,
            'msgs_per_s': {'median': rate, 'min': rate, 'max': rate},
            'cpu_us_per_msg_median': 1e6 / rate, 'loadavg_1m': 0.5}
    if a.scenario == 'latency':
        line['p50_us'] = line['p99_us'] = {'median': 1e6 / rate, 'min': 0, 'max': 0}
    print(json.dumps(line))
""")


@pytest.fixture
def runner():
    spec = importlib.util.spec_from_file_location("bench_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup(tmp_path, monkeypatch):
    kbench = tmp_path / "kbench.py"
    kbench.write_text(FAKE_KBENCH)
    # Both sides are this interpreter; the reference side is told apart by FAKE_SIDE.
    ref = tmp_path / "ref-python"
    ref.write_text(f'#!/bin/sh\nFAKE_SIDE=ref exec {sys.executable} "$@"\n')
    ref.chmod(ref.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    for var in ("FAKE_FAIL", "FAKE_HANG", "FAKE_SIDE"):
        monkeypatch.delenv(var, raising=False)
    args = [
        "--kbench",
        str(kbench),
        "--ours-python",
        sys.executable,
        "--ref-python",
        str(ref),
        "--results",
        str(tmp_path / "results"),
        "--url",
        "memory://",
    ]
    return args, calls, tmp_path / "results"


def read_jsonl(folder):
    (path,) = [p for p in folder.iterdir() if p.suffix == ".jsonl"]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_alternates_calibrates_and_tabulates(runner, setup, capsys):
    args, calls, results = setup
    assert runner.main(args + ["--repeat", "3", "--scenario", "publish,latency"]) == 0
    made = [json.loads(line) for line in calls.read_text().splitlines()]
    publish = [(side, n) for side, scenario, n, _ in made if scenario == "publish"]
    # round 1 ours first and calibrates, round 2 flipped, later rounds reuse the count
    assert publish == [
        ("ours", "auto"),
        ("ref", "auto"),
        ("ref", "1000"),
        ("ours", "1000"),
        ("ours", "1000"),
        ("ref", "1000"),
    ]
    records = read_jsonl(results)
    assert {(r["role"], r["round"]) for r in records} == {
        (role, rnd) for role in ("ours", "kombu57") for rnd in (1, 2, 3)
    }
    assert not [r for r in records if "error" in r]
    out = capsys.readouterr().out
    assert "| publish | 200 | 100 | 2.00× | 5,000.0 | 10,000.0 |" in out
    assert "| latency | 200 | 100 | 2.00× |" in out
    assert (results / (next(results.glob("*.jsonl")).stem + ".md")).exists()


def test_raw_baselines_with_both(runner, setup, capsys):
    args, calls, results = setup
    args[args.index("memory://")] = "redis://127.0.0.1:1/0"  # the stand-in never connects
    # the probe asks this project's kombu for a transport; redis:// may not be installed
    runner.probe = lambda python, url, timeout=60: {"ok": True, "version": "x"}
    assert runner.main(args + ["--repeat", "2", "--scenario", "publish", "--both"]) == 0
    raws = [r for r in read_jsonl(results) if r["role"] == "raw"]
    assert len(raws) == 2 and all(r["impl"] == "raw-redis" for r in raws)
    out = capsys.readouterr().out
    # raw baselines run in the reference interpreter: 4 x 100 msgs/s
    assert "| publish | raw-redis | 400 | 2,500.0 | – | 0.50× | 2.00× | 0.25× | 4.00× |" in out


def test_failures_and_hangs_are_recorded_not_fatal(runner, setup, capsys, monkeypatch):
    args, calls, results = setup
    monkeypatch.setenv("FAKE_FAIL", "consume")
    monkeypatch.setenv("FAKE_HANG", "latency")
    assert runner.main(args + ["--repeat", "2", "--scenario", "consume,latency,publish", "--timeout", "8"]) == 0
    records = read_jsonl(results)
    errors = [(r["role"], r["scenario"], r["error"]) for r in records if "error" in r]
    assert [e[:2] for e in errors if e[1] == "consume"] == [
        ("ours", "consume"),
        ("kombu57", "consume"),
        ("kombu57", "consume"),
        ("ours", "consume"),
    ]
    assert any("boom: ours" in e[2] for e in errors)
    hangs = [e for e in errors if e[1] == "latency"]
    assert hangs == [("ours", "latency", "timed out after 8s")]  # not run again
    assert len([r for r in records if r["scenario"] == "latency" and "error" not in r]) == 2
    out = capsys.readouterr().out
    assert "| publish | 200 | 100 | 2.00× |" in out
    assert "ours latency: 1 failed run(s), e.g. timed out after 8s" in out


def test_unusable_interpreter_is_reported(runner, setup, capsys):
    args, calls, results = setup
    args[args.index("--ours-python") + 1] = os.path.join(str(results), "no-such-python")
    assert runner.main(args + ["--repeat", "1", "--scenario", "publish"]) == 0
    out = capsys.readouterr().out
    assert "this project cannot run memory://" in out
    assert "| publish | – | 100 | – |" in out


def test_redact_hides_passwords(runner):
    assert runner.redact("amqp://guest:secret@host:5672//") == "amqp://guest:***@host:5672//"
    assert runner.redact("memory://") == "memory://"


def test_pika_raw_baselines_are_filed_under_the_pika_table(runner, setup, capsys):
    args, calls, results = setup
    args[args.index("memory://")] = "pika://guest:guest@127.0.0.1:1//"
    # this project has pika://, Kombu 5.7.0 has not
    runner.probe = lambda python, url, timeout=60: (
        {"ok": False, "version": "5.7.0", "error": "KeyError: pika"}
        if python.endswith("ref-python")
        else {"ok": True, "version": "x"}
    )
    assert runner.main(args + ["--repeat", "1", "--scenario", "publish", "--both"]) == 0
    records = read_jsonl(results)
    assert {r["role"] for r in records} == {"ours", "raw"}
    (raw,) = [r for r in records if r["role"] == "raw"]
    assert raw["url"] == "pika://guest:***@127.0.0.1:1//"
    assert raw["kbench_url"] == "amqp://guest:***@127.0.0.1:1//"
    made = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [m[0] for m in made] == ["ours", "ref"]  # the raw run used the reference venv
    out = capsys.readouterr().out
    assert "Kombu 5.7.0 has no pika:// transport" in out
    assert "| publish | raw-redis | 400 |" in out
    assert "Errors:" not in out
    # the tables can be rebuilt from the results file alone
    (jsonl,) = results.glob("*.jsonl")
    assert runner.main(["--tables", str(jsonl)]) == 0
    again = capsys.readouterr().out
    assert "| publish | raw-redis | 400 |" in again and "pika://guest:***@" in again
