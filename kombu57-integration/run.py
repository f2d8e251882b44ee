#!/usr/bin/env python3
"""Run Kombu 5.7.0's own integration tests (``t/integration``) against this project.

    .venv/bin/python kombu57-integration/run.py                 # every target
    .venv/bin/python kombu57-integration/run.py memory redis    # some targets
    .venv/bin/python kombu57-integration/run.py --list          # the targets

The sdist of Kombu 5.7.0 is downloaded from PyPI at run time into the ignored
folder ``.kombu57-sdist/`` (never committed) and its ``t/integration`` package is
used as it is. For brokers Kombu 5.7 has a test module for (py-amqp, redis, sqs,
mongodb) that module runs, restricted to the classes built on ``common.py``; for
the others (memory, pika, couchdb, beanstalk) an adapter module of ours, copied
beside ``common.py``, gives ``common.py``'s classes a connection fixture.

The interpreter running this script is the one whose ``kombu`` is tested: run it
with ``.venv/bin/python``. Known failures are listed in ``known_failures.py``, each
with its reason, and run as strict xfails: one that starts passing fails the run
until it is taken off the list. Exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VERSION = "5.7.0"
SDIST_DIR = ROOT / ".kombu57-sdist"
SOURCE = SDIST_DIR / f"kombu-{VERSION}"
INTEGRATION = SOURCE / "t" / "integration"

COMMON_CLASSES = (
    "BasicFunctionality",
    "BaseExchangeTypes",
    "BaseTimeToLive",
    "BasePriority",
    "BaseMessage",
    "BaseEventLoop",
    "BaseFailover",
)

#: target -> (test module in t/integration, classes to run or None for all, environment)
TARGETS: dict[str, tuple[str, tuple[str, ...] | None, dict[str, str]]] = {
    "memory": ("test_ours_memory.py", None, {}),
    "redis": (
        "test_redis.py",
        (
            "test_RedisBasicFunctionality",
            "test_RedisBaseExchangeTypes",
            "test_RedisPriority",
            "test_RedisMessage",
            "test_RedisEventLoop",
        ),
        {"REDIS_HOST": "127.0.0.1", "REDIS_6379_TCP": os.environ.get("REDIS_PORT", "6379")},
    ),
    "amqp": (
        "test_py_amqp.py",
        None,
        {"RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_5672_TCP": os.environ.get("AMQP_PORT", "5672")},
    ),
    "pika": (
        "test_ours_pika.py",
        None,
        {"RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_5672_TCP": os.environ.get("AMQP_PORT", "5672")},
    ),
    "sqs": (
        "test_sqs.py",
        ("test_SQSBasicFunctionality", "test_SQSBaseExchangeTypes", "test_SQSMessage"),
        {"SQS_HOST": "127.0.0.1", "SQS_PORT": os.environ.get("SQS_PORT", "5000")},
    ),
    "mongodb": (
        "test_mongodb.py",
        None,
        {"MONGODB_HOST": "127.0.0.1", "MONGODB_27017_TCP": os.environ.get("MONGODB_PORT", "27017")},
    ),
    "couchdb": (
        "test_ours_couchdb.py",
        None,
        {"COUCHDB_HOST": "127.0.0.1", "COUCHDB_PORT": os.environ.get("COUCHDB_PORT", "5984")},
    ),
    "beanstalk": (
        "test_ours_beanstalk.py",
        None,
        {"BEANSTALK_HOST": "127.0.0.1", "BEANSTALK_PORT": os.environ.get("BEANSTALK_PORT", "11300")},
    ),
}


def fetch_sdist() -> None:
    """Download and unpack Kombu's sdist once (a marker file makes repeats free).

    Safe to call from processes running at the same time (make test runs the
    integration tests and the examples side by side): a file lock serializes them.
    """
    import fcntl

    SDIST_DIR.mkdir(exist_ok=True)
    with open(SDIST_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _fetch_sdist_locked()


def _fetch_sdist_locked() -> None:
    marker = SOURCE / ".unpacked"
    if marker.exists():
        return
    archive = SDIST_DIR / f"kombu-{VERSION}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"kombu=={VERSION}",
                "-d",
                str(SDIST_DIR),
            ],
            check=True,
        )
    if SOURCE.exists():
        shutil.rmtree(SOURCE)
    with tarfile.open(archive) as tar:
        members = [
            m for m in tar.getmembers() if m.name.startswith((f"kombu-{VERSION}/t/", f"kombu-{VERSION}/examples/"))
        ]
        tar.extractall(SDIST_DIR, members=members, filter="data")
    marker.touch()


def stage() -> None:
    """Copy our adapters and conftest beside Kombu's ``common.py``."""
    for adapter in (HERE / "adapters").glob("*ours_*.py"):
        shutil.copyfile(adapter, INTEGRATION / adapter.name)
    shutil.copyfile(HERE / "stage_conftest.py", INTEGRATION / "conftest.py")
    shutil.copyfile(HERE / "known_failures.py", INTEGRATION / "_known_failures.py")


#: target -> the broker URL its tests use (for the clean slate; memory:// is per process).
BROKER_URLS = {
    "redis": "redis://127.0.0.1:{REDIS_6379_TCP}/0",
    "redis-prefixed": "redis://127.0.0.1:{REDIS_6379_TCP}/0?global_keyprefix=_prefixed_",
    "amqp": "amqp://guest:guest@127.0.0.1:{RABBITMQ_5672_TCP}//",
    "pika": "amqp://guest:guest@127.0.0.1:{RABBITMQ_5672_TCP}//",
    "mongodb": "mongodb://127.0.0.1:{MONGODB_27017_TCP}/tests",
    "couchdb": "couchdb://127.0.0.1:{COUCHDB_PORT}/kombu57_integration",
    "beanstalk": "beanstalk://127.0.0.1:{BEANSTALK_PORT}",
}


def clean_slate(target: str) -> None:
    """Delete the fixed-name queues Kombu's tests use, as on the fresh broker its CI has.

    Some of Kombu's tests leave messages behind on purpose (a requeue test never
    acks), so a second run on the same broker would start from their leftovers.
    """
    import re

    urls = [
        BROKER_URLS[key].format(**TARGETS[target][2])
        for key in BROKER_URLS
        if key == target or key.startswith(target + "-")
    ]
    names: set[str] = set()
    for module in INTEGRATION.glob("*.py"):
        names.update(re.findall(r"(?:Queue|SimpleQueue|SimpleBuffer)\(\s*'([\w.-]+)'", module.read_text()))
    from kombu import Connection

    for url in urls:
        try:
            with Connection(url, connect_timeout=5) as conn:
                channel = conn.channel()
                for name in sorted(names):
                    try:
                        channel.queue_delete(name)
                    except Exception:  # noqa: BLE001 - a missing queue is what we want
                        channel = conn.channel()
        except Exception as exc:  # noqa: BLE001 - the tests will report an unreachable broker
            print(f"kombu57: could not clean {target} ({type(exc).__name__}: {exc})", file=sys.stderr)


def node_ids(target: str) -> list[str]:
    module, classes, _ = TARGETS[target]
    path = f"t/integration/{module}"
    if classes is None:
        return [path]
    return [f"{path}::{cls}" for cls in classes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "targets", nargs="*", help=f"targets (default: all): {', '.join(TARGETS)}; arguments after -- go to pytest"
    )
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.list:
        for name, (module, classes, _) in TARGETS.items():
            print(f"{name:10} {module} {' '.join(classes or ('(all classes)',))}")
        return 0
    targets = args.targets or list(TARGETS)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    fetch_sdist()
    stage()
    # One pytest run per target, each from a clean slate: targets on one broker (amqp and
    # pika) use the same fixed queue names, and some of Kombu's tests leave messages behind.
    failed: list[str] = []
    for target in targets:
        env = dict(os.environ, **TARGETS[target][2], KOMBU57_TARGETS=target)
        clean_slate(target)
        print(f"kombu57: {target}", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(HERE / "pytest.ini"),
            "--rootdir",
            str(SOURCE),
            *node_ids(target),
            *extra,
        ]
        if subprocess.run(cmd, cwd=SOURCE, env=env, check=False).returncode != 0:
            failed.append(target)
    print(
        f"kombu57: {len(targets) - len(failed)} of {len(targets)} targets passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
