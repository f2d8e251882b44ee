"""The chaos suite's bounded form, run by ``make test``: fewer messages, same faults.

Each (target, fault) pair publishes ``CHAOS_N`` numbered messages (default
300; ``make chaos`` uses 5,000) and asserts that none was lost and the
consumer still runs; duplicates are reported, not failed. A target whose
server binary or client is missing fails under ``CI`` and skips elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu.testing.services import missing_service

from chaos.report import RESULTS
from chaos.scenario import run_scenario
from chaos.target import Target
from chaos.targets import discover

N = int(os.environ.get("CHAOS_N", "300"))
TARGETS = discover()
CASES = [(name, fault) for name, target in TARGETS.items() for fault in target.faults]


@pytest.fixture(scope="module")
def started() -> Iterator[dict[str, tuple[Target, Path]]]:
    """Targets started on first use, stopped after the module."""
    running: dict[str, tuple[Target, Path]] = {}
    try:
        yield running
    finally:
        for target, _ in running.values():
            target.stop()


@pytest.mark.parametrize(("target_name", "fault"), CASES, ids=[f"{t}-{f}" for t, f in CASES])
def test_no_message_lost(
    started: dict[str, tuple[Target, Path]], target_name: str, fault: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = TARGETS[target_name]
    if target_name not in started:
        why = target.available()
        if why is not None:
            missing_service(f"chaos target {target_name}: {why}")
        workdir = tmp_path_factory.mktemp(f"chaos-{target_name}")
        target.start(workdir)
        started[target_name] = (target, workdir)
    _, workdir = started[target_name]
    result = run_scenario(target, fault, N, workdir, timeout=60)
    RESULTS.append(result)
    assert result.error is None, result.error
    assert result.lost == 0, f"{result.lost} of {N} messages lost"
    assert result.consumer_alive, "the consumer died"
