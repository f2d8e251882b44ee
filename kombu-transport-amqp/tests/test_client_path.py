"""The py-amqp seam: fast path inside the tested range, py-amqp's own path otherwise.

The public path is exercised in every run: the conformance kit, the
event-loop and the publish-after-a-drop tests run again with ``client_fast_path=False``.
"""

from __future__ import annotations

import logging
from typing import Any

import amqp
import pytest
from kombu import Connection, Queue
from kombu.testing import TransportConformance
from kombu_transport_amqp import _io, _plain_io, client_path

from . import test_features as features
from . import test_publish_after_drop as after_drop
from .conftest import AMQP_URL, fresh

PUBLIC_URL = AMQP_URL + "?client_fast_path=false"


class TestPyAmqpPublicPathConformance(TransportConformance):
    url = AMQP_URL
    transport_options = {"client_fast_path": False}


@pytest.mark.nobroker
@pytest.mark.parametrize(
    ("version", "inside"),
    [
        ("5.1.1", False),
        ("5.2.0", True),
        ("5.3.1", True),
        ("5.4.2", True),
        ("5.5.0", False),
        ("6.0.0", False),
        ("5.4.2.post1", True),
    ],
)
def test_tested_range(version: str, inside: bool) -> None:
    assert client_path.in_tested_range(version) is inside


@pytest.mark.nobroker
def test_auto_follows_the_range_and_the_option_forces() -> None:
    assert client_path.missing_internals() == []  # the installed py-amqp has what it needs
    assert client_path.use_fast_path("auto", "5.4.2") is True
    assert client_path.use_fast_path("auto", "5.5.0") is False
    assert client_path.use_fast_path(None, "5.1.0") is False
    assert client_path.use_fast_path(False, "5.4.2") is False
    assert client_path.use_fast_path("false", "5.4.2") is False
    assert client_path.use_fast_path(True, "5.9.0") is True
    assert client_path.use_fast_path("1", "7.0") is True


@pytest.mark.nobroker
def test_bad_option_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="client_fast_path"):
        client_path.use_fast_path("fastest")


@pytest.mark.nobroker
def test_missing_internals_fall_back_or_fail_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_path, "missing_internals", lambda: ["amqp.Connection.blocking_read"])
    assert client_path.use_fast_path("auto", "5.4.2") is False
    with pytest.raises(RuntimeError, match="blocking_read"):
        client_path.use_fast_path(True, "5.4.2")


@pytest.mark.nobroker
def test_the_choice_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=client_path.__name__)
    for _ in range(3):
        client_path.use_fast_path("auto", "5.4.999")
    lines = [r.getMessage() for r in caplog.records if "5.4.999" in r.getMessage()]
    assert lines == ["amqp: py-amqp 5.4.999: fast path (inside the tested range)"]


@pytest.mark.parametrize("fast", [True, False])
def test_each_path_uses_its_own_io_and_delivers(fast: bool, names: list[str]) -> None:
    queue = Queue(fresh(names), routing_key="k", durable=False, auto_delete=False)
    got: list[Any] = []
    with Connection(AMQP_URL, transport_options={"client_fast_path": fast}) as conn:
        conn.connect()
        transport = conn.connection.transport
        if fast:
            assert isinstance(transport, _io.BufferedIO)
        else:
            assert isinstance(transport, _plain_io.PlainIO)
            assert not isinstance(transport, _io.BufferedIO)
            assert type(transport).read_frame is amqp.transport.TCPTransport.read_frame
            assert type(conn.connection).blocking_read.__name__ == "blocking_read"
        producer = conn.Producer()
        for n in range(50):
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        with conn.Consumer(queue, callbacks=[lambda body, m: (got.append(body["n"]), m.ack())]):
            while len(got) < 50:
                conn.drain_events(timeout=10)
    assert got == list(range(50))


@pytest.mark.parametrize("fault", ["broker-close", "cut", "cut-reset"])
def test_public_path_publish_after_idle_drop_loses_nothing(names: list[str], fault: str) -> None:
    after_drop.test_publish_after_idle_drop_loses_nothing(PUBLIC_URL, names, fault)


def test_public_path_unconfirmed_window_is_resent_after_a_cut(names: list[str]) -> None:
    after_drop.test_unconfirmed_window_is_resent_after_a_cut_mid_stream(PUBLIC_URL, names)


def test_public_path_event_loop(names: list[str]) -> None:
    features.test_event_loop_consumes_and_acks_without_blocking(PUBLIC_URL, names)
    features.test_event_loop_runs_acks_scheduled_from_another_thread(PUBLIC_URL, names)
