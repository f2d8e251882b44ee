"""The ``stop-mid-poll`` fault (:mod:`chaos.stop_mid_poll`) for the targets that list it."""

from __future__ import annotations

import os

import pytest
from kombu.testing.services import missing_service

from chaos.report import RESULTS
from chaos.stop_mid_poll import FAULT, run_stop_mid_poll
from chaos.targets import discover

N = int(os.environ.get("CHAOS_N", "300"))
TARGETS = {name: t for name, t in discover().items() if FAULT in getattr(t, "extra_faults", ())}


@pytest.mark.parametrize("target_name", sorted(TARGETS))
def test_stop_mid_poll_loses_nothing_and_hides_nothing(
    target_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = TARGETS[target_name]
    why = target.available()
    if why is not None:
        missing_service(f"chaos target {target_name}: {why}")
    workdir = tmp_path_factory.mktemp(f"chaos-midpoll-{target_name}")
    target.start(workdir)
    try:
        result = run_stop_mid_poll(target, N, workdir, timeout=60)
    finally:
        target.stop()
    RESULTS.append(result)
    assert result.error is None, result.error
    assert result.lost == 0, f"{result.lost} of {N} messages lost"
    assert result.consumer_alive, "the last consumer died"
