"""LeaseKeeper: renews through the hook, holds only a weak reference, survives hook errors."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

import pytest
from kombu import Connection
from kombu.transport.virtual.lease import LeaseKeeper


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


class FakeChannel:
    closed = False

    def __init__(self) -> None:
        self.held: list[str] = ["m1", "m2"]
        self.calls: list[list[str]] = []
        self.fail = 0

    def _lease_messages(self) -> list[str]:
        return list(self.held)

    def _renew_leases(self, messages: list[str]) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("broker went away")
        self.calls.append(list(messages))


def test_renews_held_messages_every_interval() -> None:
    channel = FakeChannel()
    keeper = LeaseKeeper(channel, 0.02).start()
    try:
        assert wait_for(lambda: len(channel.calls) >= 3)
        assert channel.calls[0] == ["m1", "m2"]
    finally:
        keeper.stop()
    assert not keeper.running


def test_no_hook_call_when_nothing_is_held() -> None:
    channel = FakeChannel()
    channel.held = []
    keeper = LeaseKeeper(channel, 0.01).start()
    time.sleep(0.2)
    keeper.stop()
    assert channel.calls == []


def test_hook_errors_are_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    channel = FakeChannel()
    channel.fail = 3
    with caplog.at_level(logging.DEBUG, logger="kombu.transport.virtual.lease"):
        keeper = LeaseKeeper(channel, 0.01).start()
        try:
            assert wait_for(lambda: len(channel.calls) >= 1)
        finally:
            keeper.stop()
    assert keeper.errors == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "broker went away" in warnings[0].getMessage()


def test_custom_renew_function() -> None:
    channel = FakeChannel()
    seen: list[tuple[Any, list[str]]] = []
    keeper = LeaseKeeper(channel, 0.01, renew=lambda owner, msgs: seen.append((owner, list(msgs)))).start()
    try:
        assert wait_for(lambda: bool(seen))
        assert seen[0][0] is channel
    finally:
        keeper.stop()


def test_bound_method_of_owner_is_refused() -> None:
    channel = FakeChannel()
    with pytest.raises(ValueError, match="bound method"):
        LeaseKeeper(channel, 1.0, renew=channel._renew_leases)  # type: ignore[arg-type]


def test_exits_when_owner_is_closed() -> None:
    channel = FakeChannel()
    keeper = LeaseKeeper(channel, 0.01).start()
    channel.closed = True
    assert wait_for(lambda: not keeper.running)


def test_exits_promptly_when_owner_is_collected() -> None:
    channel = FakeChannel()
    # A long interval: the thread must leave on collection, not on its next tick.
    keeper = LeaseKeeper(channel, 60.0).start()
    assert keeper.running
    del channel
    gc.collect()
    assert wait_for(lambda: not keeper.running, timeout=5.0)


def test_renew_now_reports_count() -> None:
    channel = FakeChannel()
    keeper = LeaseKeeper(channel, 60.0)
    assert keeper.renew_now() == 2
    assert channel.calls == [["m1", "m2"]]


def test_defaults_to_unacked_deliveries_of_a_virtual_channel() -> None:
    renewed: list[list[Any]] = []
    with Connection("memory://") as conn:
        channel = conn.channel()
        channel.queue_declare("lease-q")
        channel.basic_publish(channel.prepare_message("x"), "", "lease-q")
        message = channel.basic_get("lease-q")
        assert message is not None
        keeper = LeaseKeeper(channel, 60.0, renew=lambda owner, msgs: renewed.append(list(msgs)))
        assert keeper.renew_now() == 1
        assert renewed[0][0] is message
        message.ack()
        assert keeper.renew_now() == 0
        channel.queue_delete("lease-q")


def test_dropped_connections_leave_no_threads() -> None:
    def consume_and_drop() -> None:
        conn = Connection("memory://")
        channel = conn.channel()
        channel.queue_declare("lease-drop")
        LeaseKeeper(channel, 30.0, renew=lambda owner, msgs: None).start()
        # Dropped without close().

    before = threading.active_count()
    for _ in range(20):
        consume_and_drop()
    gc.collect()
    assert wait_for(lambda: threading.active_count() <= before, timeout=10.0)
    with Connection("memory://") as conn:
        conn.default_channel.queue_delete("lease-drop")
