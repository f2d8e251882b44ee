"""``python -m chaos``: run the chaos suite and print the table (exit 1 on any loss).

python -m chaos                       # every target, every fault, 5,000 messages
python -m chaos --targets redis --faults server-kill,tcp-cut --n 1000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .report import format_table
from .scenario import Result, run_scenario
from .target import FAULTS
from .targets import discover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="messages per scenario")
    parser.add_argument("--targets", default="", help="comma-separated (default: all)")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on every wait of a scenario, seconds")
    args = parser.parse_args(argv)
    targets = discover([t for t in args.targets.split(",") if t] or None)
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="kombu-chaos-") as tmp:
        for target in targets.values():
            why = target.available()
            if why is not None:
                print(f"skipping {target.name}: {why}", file=sys.stderr)
                continue
            workdir = Path(tmp) / target.name
            workdir.mkdir()
            target.start(workdir)
            try:
                for fault in faults:
                    if fault not in target.faults:
                        continue
                    result = run_scenario(target, fault, args.n, workdir, args.timeout)
                    print(
                        f"{target.name} {fault}: lost {result.lost}, duplicated "
                        f"{result.duplicated}{', ' + result.error if result.error else ''}",
                        file=sys.stderr,
                        flush=True,
                    )
                    results.append(result)
            finally:
                target.stop()
    print(format_table(results))
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
