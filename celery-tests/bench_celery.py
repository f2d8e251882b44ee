"""Celery 5.7.0 task round trips on this project and on Kombu 5.7.0, same brokers, one run.

    .venv/bin/python celery-tests/bench_celery.py [--rounds 300] [--burst 2000]

For each broker (redis://, amqp://; result backend redis in both) and each
Celery venv (``.venv-celery``: this project, installed the README's way;
``.venv-celery-kombu57``: ``celery[redis]==5.7.0`` with the real Kombu, built
by ``--make-reference``), it starts one worker (prefork, concurrency 2, no
task events) and a client, and measures:

- round-trip latency of ``add.delay(1, 1).get()`` one at a time (median, p90);
- a burst of ``--burst`` tasks sent back to back (publish rate), then awaited
  (end-to-end tasks/s).

Figures on a shared 2-core machine are noisy: compare the two columns of one
run, not runs. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from conftest import AMQP, REDIS, Stack  # noqa: E402

VENVS = {"this project": ROOT / ".venv-celery", "Kombu 5.7.0": ROOT / ".venv-celery-kombu57"}
BROKERS = {"redis": f"{REDIS}/13", "amqp": AMQP}


def make_reference(venv: Path) -> None:
    """Create ``venv`` with Celery 5.7.0 and the real Kombu 5.7.0 (idempotent)."""
    if (venv / "bin" / "celery").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "celery[redis]==5.7.0", "kombu==5.7.0"], check=True
    )


def measure(venv: Path, broker: str, rounds: int, burst: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="celery-bench-") as scratch:
        stack = Stack(f"bench-{broker}", BROKERS[broker], f"{REDIS}/14", Path(scratch), venv=venv, worker_args=())
        try:
            stack.start_worker()
            return stack.client.call("bench", timeout=600, rounds=rounds, burst=burst)  # type: ignore[no-any-return]
        finally:
            stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--make-reference", action="store_true", help="build .venv-celery-kombu57 if missing")
    args = parser.parse_args()
    if args.make_reference:
        make_reference(VENVS["Kombu 5.7.0"])
    rows = []
    for broker in BROKERS:
        for label, venv in VENVS.items():
            if not (venv / "bin" / "celery").exists():
                sys.exit(f"{venv} is missing: run `make celery` and pass --make-reference")
            figures = measure(venv, broker, args.rounds, args.burst)
            rows.append((broker, label, figures))
            print(f"{broker:6} {label:13} {figures}", file=sys.stderr)
    print(f"\nCelery 5.7.0, prefork -c 2, redis result backend; {args.rounds} round trips, burst of {args.burst}\n")
    print("| broker | kombu | round trip median (ms) | p90 (ms) | publish (tasks/s) | end-to-end (tasks/s) |")
    print("|---|---|---:|---:|---:|---:|")
    for broker, label, f in rows:
        print(
            f"| {broker} | {label} | {f['latency_median_ms']:.2f} | {f['latency_p90_ms']:.2f} "
            f"| {f['publish_per_s']:.0f} | {f['tasks_per_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
