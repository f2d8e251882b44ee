"""kombu.retry: the retry policy is Connection's, and a subclass's override is used everywhere."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue, retry
from kombu.exceptions import OperationalError


def test_connection_retry_methods_are_the_modules_functions() -> None:
    assert Connection.ensure is retry.ensure
    assert Connection.autoretry is retry.autoretry
    assert Connection.ensure_connection is retry.ensure_connection
    assert Connection._ensure_connection is retry.connect


class CountingConnection(Connection):
    """Counts the connects that go through ``_ensure_connection``."""

    connects = 0

    def _ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        type(self).connects += 1
        return super()._ensure_connection(*args, **kwargs)


def test_a_subclass_override_of_ensure_connection_is_used_by_every_path() -> None:
    CountingConnection.connects = 0
    with CountingConnection("memory://") as conn:
        assert conn.ensure_connection(max_retries=1) is conn
        after_ensure_connection = CountingConnection.connects
        assert after_ensure_connection >= 1

        calls: list[int] = []

        def flaky(value: int, channel: Any) -> int:
            calls.append(value)
            if len(calls) == 1:
                raise conn.recoverable_connection_errors[0]("first call fails")
            return value * 2

        wrapped = conn.autoretry(flaky, max_retries=2, interval_start=0, interval_step=0, interval_max=0)
        result, channel = wrapped(21)
        assert result == 42
        assert channel is not None
        assert calls == [21, 21]
        # The autoretry's first connect and the reconnect after the error both went through the override.
        assert CountingConnection.connects >= after_ensure_connection + 2


def test_publish_without_retry_does_not_wrap_in_ensure(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ensure() called by a publish with retry=False")

    exchange = Exchange("retry-hot-path", "direct")
    queue = Queue("retry-hot-path", exchange, "k")
    with Connection("memory://") as conn:
        producer = conn.Producer(exchange=exchange)
        producer.publish({"n": 0}, routing_key="k", declare=[queue], retry=True)
        monkeypatch.setattr(Connection, "ensure", refuse)
        producer.publish({"n": 1}, routing_key="k", declare=[queue])
        with pytest.raises(AssertionError, match="retry=False"):
            producer.publish({"n": 2}, routing_key="k", retry=True)
        assert conn.SimpleQueue(queue).qsize() == 2


def test_connect_errors_become_operational_errors_with_the_password_masked() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = Connection(f"redis://user:s3cret-pw@127.0.0.1:{port}/0", connect_timeout=0.5)
    with pytest.raises(OperationalError) as info:
        conn.ensure_connection(max_retries=1, interval_start=0)
    assert "s3cret-pw" not in str(info.value)
