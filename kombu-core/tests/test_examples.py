"""The examples in kombu-core/examples run and print what they should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kombu.testing.services import missing_service

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REFERENCE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-kombu57" / "bin" / "python"

TASK_QUEUE_OUTPUT = [
    "task 1: 'Hello Kombu'",
    "task 2: 5",
    "task 3: 42",
    "worker stopped",
]


def run_example(python: str, name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [python, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(EXAMPLES),
        env=env,
    )


def test_task_queue_example_on_memory():
    result = run_example(sys.executable, "task_queue.py", "memory://")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == TASK_QUEUE_OUTPUT


def test_task_queue_example_runs_unchanged_on_kombu5():
    if not REFERENCE_PYTHON.exists():
        missing_service("the Kombu 5.7.0 reference venv (make reference) is not installed")
    result = run_example(str(REFERENCE_PYTHON), "task_queue.py", "memory://")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == TASK_QUEUE_OUTPUT
