#!/usr/bin/env python3
"""Run the referee benchmark kbench.py for this project and for Kombu 5.7.0 in one run.

    make bench BENCH_ARGS="--url memory:// --scenario publish,consume --repeat 3"
    .venv/bin/python bench/run.py --url redis://127.0.0.1:6379/0 --both

kbench.py drives whichever `kombu` the interpreter running it imports, so every timed run
is one kbench process: this project's runs use .venv/bin/python, Kombu 5.7.0's use
.venv-kombu57/bin/python (made by scripts/reference-venv.sh), and with --both the raw
client baselines (redis-py, py-amqp, pika) run through kbench --raw in the reference venv.
For each URL and scenario the implementations take turns, one timed run each per round,
the order flipped every round, as kbench itself alternates.  The first round calibrates
each implementation's message count (kbench --n auto); later rounds reuse it.

Every JSON line kbench prints goes to bench/results/<timestamp>.jsonl with the round and
role added; a failed or hung run is recorded there as an error and the run goes on.  At the
end one markdown table per URL is printed (and saved beside the .jsonl as .md): medians
over the rounds, ratios paired per round.  Standard library only.
"""

import argparse
import ast
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_KBENCH = os.path.join("..", "shared", "bench", "kbench.py")
DEFAULT_URLS = ("memory://", "redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//")
PIKA_URL = "pika://guest:guest@127.0.0.1:5672//"
FALLBACK_SCENARIOS = ("publish", "consume", "roundtrip", "fanout", "latency", "large")
RAW_SCENARIOS = ("publish", "consume", "roundtrip", "latency", "large")  # no raw fanout
RAW_SCHEMES = {
    "redis": "redis",
    "rediss": "rediss",
    "amqp": "amqp",
    "pyamqp": "pyamqp",
    "pika": "amqp",
}  # kbench's raw baselines per scheme (pika: same broker)
RAW_SCHEMES["mongodb"] = "mongodb"
# Raw baselines kbench does not have: a script taking kbench's arguments and printing its lines.
RAW_SCRIPTS = {"mongodb": os.path.join(ROOT, "bench", "raw_mongodb.py")}
RAW_SCHEMES["sqs"] = "sqs"
RAW_SCRIPTS["sqs"] = os.path.join(ROOT, "bench", "raw_sqs.py")
RAW_SCHEMES["couchdb"] = "couchdb"
RAW_SCRIPTS["couchdb"] = os.path.join(ROOT, "bench", "raw_couchdb.py")
RAW_SCHEMES["beanstalk"] = "beanstalk"
RAW_SCRIPTS["beanstalk"] = os.path.join(ROOT, "bench", "raw_beanstalk.py")

# What the probe prints: the kombu this interpreter imports, and whether it takes the URL.
PROBE = r"""
import json, sys
out = {}
try:
    import kombu
    out.update(version=getattr(kombu, '__version__', '?'),
               location=getattr(kombu, '__file__', None))
    from kombu import Connection
    conn = Connection(sys.argv[1])
    conn.transport                      # resolves the scheme to a transport class
    out['ok'] = True
except BaseException as exc:            # anything: report it, the runner goes on
    out.update(ok=False, error=f'{type(exc).__name__}: {exc}')
print(json.dumps(out))
"""


class Impl:
    """One side of the comparison: a role, its interpreter, and how kbench is told to run."""

    def __init__(self, role, label, python, raw=False):
        self.role, self.label, self.python, self.raw = role, label, python, raw
        self.version = None

    def __repr__(self):
        return f"Impl({self.role})"


def redact(url):
    """The URL with its password masked, for tables and messages."""
    u = urlparse(url)
    if u.password is None:
        return url
    netloc = u.netloc.replace(f":{u.password}@", ":***@", 1)
    return u._replace(netloc=netloc).geturl()


def kbench_scenarios(path):
    """kbench's SCENARIOS tuple, read from its source (importing it would import kombu)."""
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SCENARIOS" for t in node.targets
            ):
                return tuple(ast.literal_eval(node.value))
    except (OSError, SyntaxError, ValueError):
        pass
    return FALLBACK_SCENARIOS


def probe(python, url, timeout=60):
    """Ask an interpreter which kombu it has and whether it accepts the URL's scheme."""
    if not os.path.exists(python):
        return {"ok": False, "error": f"{python} not found"}
    try:
        proc = subprocess.run(
            [python, "-c", PROBE, url], check=False, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, ValueError, OSError) as exc:
        return {"ok": False, "error": f"probe failed: {exc!r}"}


class Recorder:
    """Appends every record to the .jsonl at once, kbench's stderr to the .log; keeps the
    records for the tables."""

    def __init__(self, path, log_path):
        self.path, self.log_path, self.records = path, log_path, []
        os.makedirs(os.path.dirname(path), exist_ok=True)

    def add(self, record):
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def log(self, text):
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(text)


def run_kbench(args, impl, url, scenario, n, rnd, rec, section=None):
    """One kbench process: one timed run of one implementation on one scenario.
    Returns kbench's result lines, or None when the process hung and was killed."""
    script = RAW_SCRIPTS.get(urlparse(url).scheme, args.kbench) if impl.raw else args.kbench
    cmd = [
        impl.python,
        script,
        "--url",
        url,
        "--scenario",
        scenario,
        "--repeat",
        "1",
        "--warmup",
        str(args.warmup),
        "--seconds",
        str(args.seconds),
        "--n",
        n,
        "--delivery-mode",
        args.delivery_mode,
    ]
    if impl.raw:
        cmd.append("--raw")
    # Records are filed under the URL of the table they belong to (`section`); the raw
    # baselines of pika:// run kbench on amqp://, kept as `kbench_url`.
    base = {
        "bench_run": args.stamp,
        "url": redact(section or url),
        "scenario": scenario,
        "round": rnd,
        "role": impl.role,
        "python": impl.python,
    }
    if section and section != url:
        base["kbench_url"] = redact(url)
    rec.log(f"\n### round {rnd} {impl.role} {scenario} {redact(url)}\n$ " + " ".join(redact(c) for c in cmd) + "\n")
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        rec.log(err or "")
        rec.add(dict(base, error=f"timed out after {args.timeout:.0f}s"))
        return None
    except OSError as exc:
        rec.add(dict(base, error=f"could not start {impl.python}: {exc}"))
        return []
    rec.log(proc.stderr)
    lines = []
    for text in proc.stdout.splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("bench") == "kbench":
            lines.append(dict(line, **base, wall_s=round(time.monotonic() - started, 2)))
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        rec.add(
            dict(
                base,
                error=f"kbench exited {proc.returncode}"
                + (f" without a result: {tail}" if tail else " without a result"),
            )
        )
    for line in lines:
        rec.add(line)
    return lines


def rate_of(line):
    return (line.get("msgs_per_s") or {}).get("median")


def fmt(value, digits=0):
    if value is None:
        return "–"
    if digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def paired_ratio(a_by_round, b_by_round):
    """Median over rounds of a/b, using only rounds where both have a value."""
    ratios = [a_by_round[r] / b_by_round[r] for r in a_by_round if a_by_round.get(r) and b_by_round.get(r)]
    return statistics.median(ratios) if ratios else None


def collect(records, url, scenario):
    """{impl name: {'role', metric: {round: value}}} from the records of one url/scenario."""
    out = {}
    for rec in records:
        if rec.get("url") != url or rec.get("scenario") != scenario or "error" in rec:
            continue
        if "msgs_per_s" not in rec:
            continue
        name = rec["role"] if rec["role"] != "raw" else rec.get("impl", "raw")
        slot = out.setdefault(name, {"role": rec["role"], "version": rec.get("version")})
        for key, value in (
            ("rate", rate_of(rec)),
            ("cpu", rec.get("cpu_us_per_msg_median")),
            ("p50", (rec.get("p50_us") or {}).get("median")),
            ("p99", (rec.get("p99_us") or {}).get("median")),
            ("mb", rec.get("mb_per_s_median")),
            ("n", rec.get("n")),
        ):
            slot.setdefault(key, {})[rec["round"]] = value
    return out


def errors_of(records, url):
    """'role scenario: k failed: message' strings for one URL."""
    grouped = {}
    for rec in records:
        if rec.get("url") != url:
            continue
        messages = [rec["error"]] if "error" in rec else rec.get("errors") or []
        for msg in messages:
            name = rec["role"] if rec["role"] != "raw" else rec.get("impl", "raw")
            grouped.setdefault((name, rec.get("scenario")), []).append(msg)
    return [
        f"{name} {scenario}: {len(msgs)} failed run(s), e.g. {msgs[0][:300]}"
        for (name, scenario), msgs in grouped.items()
    ]


def table(records, url, scenarios, labels, notes):
    """The markdown tables for one URL: this project vs Kombu 5.7.0, then raw baselines."""
    rows, raw_names = [], []
    for scenario in scenarios:
        data = collect(records, url, scenario)
        raw_names += [name for name, slot in data.items() if slot["role"] == "raw" and name not in raw_names]
        med = {
            name: {k: median(v.values()) for k, v in slot.items() if isinstance(v, dict)} for name, slot in data.items()
        }
        rows.append((scenario, data, med))
    head = [
        "scenario",
        f"{labels['ours']} msgs/s",
        f"{labels['kombu57']} msgs/s",
        "ratio",
        "CPU µs/msg ours",
        "CPU µs/msg 5.7",
        "p50 µs ours",
        "p50 µs 5.7",
        "notes",
    ]
    out = [f"### {url}", ""]
    out += [f"- {note}" for note in notes]
    if notes:
        out.append("")
    out += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for scenario, data, med in rows:
        ours, ref = data.get("ours", {}), data.get("kombu57", {})
        mo, mr = med.get("ours", {}), med.get("kombu57", {})
        ratio = paired_ratio(ours.get("rate", {}), ref.get("rate", {}))
        extra = []
        if mo.get("mb") or mr.get("mb"):
            extra.append(f"MB/s {fmt(mo.get('mb'), 1)} vs {fmt(mr.get('mb'), 1)}")
        if mo.get("p99") or mr.get("p99"):
            extra.append(f"p99 µs {fmt(mo.get('p99'))} vs {fmt(mr.get('p99'))}")
        runs = [
            f"{name} {len([v for v in slot.get('rate', {}).values() if v])} runs"
            for name, slot in data.items()
            if slot["role"] != "raw"
        ]
        extra.append(", ".join(runs) if runs else "no successful run")
        out.append(
            "| "
            + " | ".join(
                [
                    scenario,
                    fmt(mo.get("rate")),
                    fmt(mr.get("rate")),
                    f"{ratio:.2f}×" if ratio else "–",
                    fmt(mo.get("cpu"), 1),
                    fmt(mr.get("cpu"), 1),
                    fmt(mo.get("p50")),
                    fmt(mr.get("p50")),
                    "; ".join(extra),
                ]
            )
            + " |"
        )
    if raw_names:
        head = [
            "scenario",
            "raw client",
            "msgs/s",
            "CPU µs/msg",
            "p50 µs",
            "ours ÷ raw msgs/s",
            "ours ÷ raw CPU",
            "5.7 ÷ raw msgs/s",
            "5.7 ÷ raw CPU",
        ]
        out += [
            "",
            "Raw-client baselines (ratios paired per round):",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] * len(head)) + "|",
        ]
        for scenario, data, med in rows:
            for raw in raw_names:
                if raw not in data:
                    continue
                raw_slot, mw = data[raw], med[raw]
                cells = [scenario, raw, fmt(mw.get("rate")), fmt(mw.get("cpu"), 1), fmt(mw.get("p50"))]
                for role in ("ours", "kombu57"):
                    side = data.get(role, {})
                    rr = paired_ratio(side.get("rate", {}), raw_slot.get("rate", {}))
                    cr = paired_ratio(side.get("cpu", {}), raw_slot.get("cpu", {}))
                    cells += [f"{rr:.2f}×" if rr else "–", f"{cr:.2f}×" if cr else "–"]
                out.append("| " + " | ".join(cells) + " |")
    loads = [r["loadavg_1m"] for r in records if r.get("url") == url and "loadavg_1m" in r]
    if loads:
        cpus = next((r["cpus"] for r in records if r.get("url") == url and r.get("cpus")), "?")
        out += [
            "",
            f"Load average (1 min) during the runs: {min(loads):.1f} to "
            f"{max(loads):.1f} on {cpus} CPUs; a load near or above the CPU count "
            "makes msgs/s noisy, CPU µs/msg less so.",
        ]
    errors = errors_of(records, url)
    if errors:
        out += ["", "Errors:"] + [f"- {e}" for e in errors]
    return "\n".join(out)


def resolve(path):
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--url",
        action="append",
        dest="urls",
        metavar="URL",
        help="broker URL, repeatable (default: memory://, redis://127.0.0.1:6379/0, "
        "amqp://guest:guest@127.0.0.1:5672//, and pika:// on the same RabbitMQ "
        "when this project has that transport)",
    )
    ap.add_argument("--scenario", default="all", help="kbench scenarios, comma list or 'all'")
    ap.add_argument(
        "--repeat", type=int, default=5, help="timed runs per implementation and scenario, one per round (default 5)"
    )
    ap.add_argument(
        "--seconds", type=float, default=2.5, help="target duration of one timed run with --n auto (default 2.5)"
    )
    ap.add_argument(
        "--n",
        default="auto",
        help="messages per run: 'auto' (calibrated in round 1, then fixed) or a "
        "kbench --n spec passed through unchanged",
    )
    ap.add_argument("--warmup", type=int, default=1, help="kbench untimed warm-up runs")
    ap.add_argument(
        "--both", action="store_true", help="also run the raw-client baselines (kbench --raw, reference venv)"
    )
    ap.add_argument("--delivery-mode", choices=("persistent", "transient"), default="persistent")
    ap.add_argument(
        "--kbench",
        default=os.environ.get("KBENCH", DEFAULT_KBENCH),
        help=f"path to kbench.py (env KBENCH; default {DEFAULT_KBENCH} from the repository root)",
    )
    ap.add_argument(
        "--ours-python",
        default=os.environ.get("OURS_PYTHON", ".venv/bin/python"),
        help="interpreter with this project's kombu (env OURS_PYTHON)",
    )
    ap.add_argument(
        "--ref-python",
        default=os.environ.get("REF_PYTHON", ".venv-kombu57/bin/python"),
        help="interpreter with Kombu 5.7.0 (env REF_PYTHON)",
    )
    ap.add_argument(
        "--timeout", type=float, default=300, help="seconds before one kbench process is killed as hung (default 300)"
    )
    ap.add_argument(
        "--results",
        default=os.path.join("bench", "results"),
        help="folder of the .jsonl/.md/.log results (default bench/results)",
    )
    ap.add_argument(
        "--tables", metavar="JSONL", help="run nothing: print the tables of an earlier (or interrupted) run"
    )
    args = ap.parse_args(argv)
    if args.tables:
        return args
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    args.kbench = resolve(args.kbench)
    if not os.path.isfile(args.kbench):
        ap.error(f"kbench.py not found at {args.kbench} (use --kbench or KBENCH)")
    # Keep venv interpreters as given (a venv's bin/python is a symlink to the base one).
    args.ours_python = resolve(args.ours_python)
    args.ref_python = resolve(args.ref_python)
    known = kbench_scenarios(args.kbench)
    args.scenarios = known if args.scenario == "all" else tuple(args.scenario.split(","))
    for s in args.scenarios:
        if s not in known:
            ap.error(f"unknown scenario {s!r} (kbench has {', '.join(known)})")
    return args


def say(*parts):
    print(*parts, file=sys.stderr, flush=True)


def tables_of(path):
    """The tables of a results file, rebuilt from its records alone."""
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    urls, scenarios, labels = [], [], {"ours": "this project", "kombu57": "Kombu 5.7.0"}
    for r in records:
        if r.get("url") not in urls:
            urls.append(r.get("url"))
        if r.get("scenario") not in scenarios:
            scenarios.append(r.get("scenario"))
    sections = []
    for url in urls:
        notes = []
        for role in ("ours", "kombu57"):
            line = next(
                (r for r in records if r.get("url") == url and r.get("role") == role and r.get("version")), None
            )
            if line:
                name = "Kombu" if role == "kombu57" else "this project"
                labels[role] = f"{name} {line['version']}"
                notes.append(f"{name}: kombu {line['version']} from {line.get('location', '?')}")
        sections.append(table(records, url, scenarios, labels, notes))
    return "\n\n".join(sections) + "\n"


def main(argv=None):
    args = parse_args(argv)
    if args.tables:
        print(tables_of(resolve(args.tables)))
        return 0
    args.stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    results = resolve(args.results)
    jsonl = os.path.join(results, f"{args.stamp}.jsonl")
    rec = Recorder(jsonl, os.path.join(results, f"{args.stamp}.log"))

    ours = Impl("ours", "this project", args.ours_python)
    ref = Impl("kombu57", "Kombu 5.7.0", args.ref_python)
    raw = Impl("raw", "raw client", args.ref_python, raw=True)

    urls = list(args.urls or DEFAULT_URLS)
    if not args.urls and probe(ours.python, PIKA_URL).get("ok"):
        urls.append(PIKA_URL)

    labels = {"ours": "this project", "kombu57": "Kombu 5.7.0"}
    sections = []
    for url in urls:
        shown = redact(url)
        scheme = urlparse(url).scheme
        notes, impls = [], []
        for impl in (ours, ref):
            info = probe(impl.python, url)
            if info.get("version"):
                impl.version = info["version"]
                version = "" if info["version"] == "?" else " " + info["version"]
                labels[impl.role] = ("Kombu" if impl is ref else "this project") + version
                notes.append(
                    f"{impl.label}: kombu {info['version']} from {os.path.dirname(info.get('location') or '?')}"
                )
            if info.get("ok"):
                impls.append(impl)
            elif impl is ref and scheme == "pika":
                notes.append(f"{impl.label} has no {scheme}:// transport")
            else:
                notes.append(f"{impl.label} cannot run {scheme}://: {info.get('error')}")
                for scenario in args.scenarios:
                    rec.add(
                        {
                            "bench_run": args.stamp,
                            "url": shown,
                            "scenario": scenario,
                            "round": 0,
                            "role": impl.role,
                            "python": impl.python,
                            "error": f"not run: {info.get('error')}",
                        }
                    )
        raw_url = None
        if args.both and scheme in RAW_SCHEMES:
            raw_url = url.replace(f"{scheme}://", f"{RAW_SCHEMES[scheme]}://", 1)
        elif args.both:
            notes.append(f"no raw-client baseline for {scheme}://")

        say(f"== {shown}: {', '.join(i.role for i in impls) or 'nothing to run'}" + (" + raw" if raw_url else ""))
        for scenario in args.scenarios:
            active = list(impls)
            if raw_url and scenario in RAW_SCENARIOS:
                active.append(raw)
            fixed_n, hung = {}, set()
            for rnd in range(1, args.repeat + 1):
                order = active if rnd % 2 else active[::-1]
                for impl in order:
                    if impl.role in hung:  # one hang per scenario is enough
                        continue
                    n = args.n if args.n != "auto" else fixed_n.get(impl.role, "auto")
                    lines = run_kbench(
                        args, impl, raw_url if impl.raw else url, scenario, str(n), rnd, rec, section=url
                    )
                    if lines is None:
                        hung.add(impl.role)
                        say(
                            f"  {scenario:9} round {rnd}/{args.repeat} {impl.role:8} HUNG: "
                            f"killed after {args.timeout:.0f}s, not run again for {scenario}"
                        )
                        continue
                    done = [ln for ln in lines if rate_of(ln)]
                    if done and args.n == "auto" and impl.role not in fixed_n:
                        fixed_n[impl.role] = min(ln["n"] for ln in done)
                    figures = ", ".join(
                        f"{ln['impl'] if impl.raw else impl.role} {rate_of(ln):,.0f} msgs/s" for ln in done
                    )
                    say(
                        f"  {scenario:9} round {rnd}/{args.repeat} {impl.role:8} "
                        f"{figures or 'FAILED (see ' + os.path.relpath(jsonl, ROOT) + ')'}"
                    )
        sections.append(table(rec.records, shown, args.scenarios, labels, notes))

    report = "\n\n".join(sections) + "\n"
    md = jsonl[: -len(".jsonl")] + ".md"
    with open(md, "w", encoding="utf-8") as fh:
        fh.write(f"# bench run {args.stamp}\n\n" + report)
    print(report)
    say(
        f"results: {os.path.relpath(jsonl, ROOT)} (table: {os.path.relpath(md, ROOT)}, "
        f"kbench output: {os.path.relpath(jsonl[:-6] + '.log', ROOT)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
