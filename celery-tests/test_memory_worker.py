"""Celery's own test worker (``celery.contrib.testing.worker``) on memory://, in one process."""

from __future__ import annotations


def test_contrib_testing_worker_on_memory(memory_client):
    out = memory_client.call("memory_worker")
    assert out["delay_get"] == 5
    assert out["group"] == [1, 2, 3]
    assert out["chain"] == 3
    assert 1 - 0.05 <= out["countdown"] <= 1.5, out["countdown"]
    assert out["expires_future"] == 3
    assert out["expires_elapsed"] == {"state": "REVOKED", "error": "TaskRevokedError"}
