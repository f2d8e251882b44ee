"""The redis-py seam: fast path (``Connection._sock``) inside the tested range, public API otherwise.

The public path is exercised in every run: the conformance kit and the
event-loop and delivery tests run again with ``client_fast_path=False``.
On a redis-py without the public ``Connection.is_connected`` (the lowest
supported versions) forcing the public path is a clear error, tested here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.testing import TransportConformance
from kombu.testing.services import missing_service
from kombu_transport_redis import client_path

from . import test_conformance as kit
from . import test_reliability as reliability
from .conftest import redis_available

#: Tests of the public path; deselected at collection (conftest.py) on a redis-py without
#: ``Connection.is_connected`` (5.0), where that path cannot run.
needs_public_api = pytest.mark.redis_public_api


@needs_public_api
class TestRedisPublicPathConformance(TransportConformance):
    url = kit.URL
    transport_options = {**kit.TestRedisConformance.transport_options, "client_fast_path": False}

    @pytest.fixture(autouse=True)
    def _needs_redis(self) -> None:
        if not redis_available(kit.URL):
            missing_service(f"no Redis server at {kit.URL}")


@pytest.mark.parametrize(
    ("version", "inside"),
    [
        ("4.6.0", False),
        ("5.0.0", True),
        ("5.0.14", True),
        ("6.4.0", True),
        ("8.1.0", True),
        ("9.0.0", False),
        ("10.1", False),
    ],
)
def test_tested_range(version: str, inside: bool) -> None:
    assert client_path.in_tested_range(version) is inside


def test_auto_follows_the_range_and_the_option_forces() -> None:
    assert client_path.has_internals()
    assert client_path.choose("auto", "8.1.0") is client_path.FAST
    assert client_path.choose(True, "12.0.0") is client_path.FAST
    assert client_path.choose("true", "5.0.0") is client_path.FAST
    if client_path.has_public_api():
        assert client_path.choose("auto", "9.0.0") is client_path.PUBLIC
        assert client_path.choose(False, "8.1.0") is client_path.PUBLIC
        assert client_path.choose("0", "8.1.0") is client_path.PUBLIC
    else:
        # Outside the range with no public alternative: the internals still serve.
        assert client_path.choose("auto", "9.0.0") is client_path.FAST
        with pytest.raises(RuntimeError, match="is_connected"):
            client_path.choose(False)


def test_bad_option_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="client_fast_path"):
        client_path.choose("sometimes")
    with pytest.raises(ValueError, match="client_fast_path"):
        Connection("redis://127.0.0.1:6379/14?client_fast_path=maybe").transport  # noqa: B018


def test_missing_internals_fall_back_or_fail_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_path, "has_internals", lambda: False)
    monkeypatch.setattr(client_path, "has_public_api", lambda: True)
    assert client_path.choose("auto", "8.1.0") is client_path.PUBLIC
    with pytest.raises(RuntimeError, match="_sock"):
        client_path.choose(True, "8.1.0")
    monkeypatch.setattr(client_path, "has_public_api", lambda: False)
    with pytest.raises(RuntimeError, match="neither"):
        client_path.choose("auto", "8.1.0")


def test_the_choice_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=client_path.__name__)
    for _ in range(3):
        client_path.choose("auto", "8.999.0")
    lines = [r.getMessage() for r in caplog.records if "8.999.0" in r.getMessage()]
    assert lines == ["redis: redis-py 8.999.0: fast path (inside the tested range)"]


def _public(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "client_fast_path=false"


@needs_public_api
def test_public_path_transport_and_link_use_it(redis_url: str) -> None:
    with Connection(_public(redis_url)) as conn:
        conn.connect()
        assert conn.transport.client_path is client_path.PUBLIC
        assert conn.transport.link.path is client_path.PUBLIC
        assert conn.transport.link.connected


@needs_public_api
def test_public_path_event_loop(redis_url: str, uname: str) -> None:
    reliability.test_register_with_event_loop(_public(redis_url), uname)


@needs_public_api
def test_public_path_waits_on_brpop_and_pubsub_together(redis_url: str, uname: str) -> None:
    """A direct and a fanout queue consumed at once; messages to both arrive while waiting."""
    url = _public(redis_url)
    direct = Queue(f"{uname}.d", routing_key=f"{uname}.d")
    fanout = Queue(f"{uname}.f", exchange=Exchange(f"{uname}.fx", type="fanout"))
    got: list[Any] = []
    with Connection(url) as conn, Connection(url) as other:
        channel = conn.channel()
        with Consumer(channel, [direct, fanout], callbacks=[lambda body, m: (got.append(body), m.ack())]):

            def later() -> None:
                time.sleep(0.3)
                producer = Producer(other.channel())
                producer.publish("to-fanout", exchange=fanout.exchange, declare=[fanout.exchange])
                producer.publish("to-direct", routing_key=direct.routing_key, declare=[direct])

            thread = threading.Thread(target=later)
            thread.start()
            deadline = time.monotonic() + 20
            while len(got) < 2 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    pass
            thread.join()
        for q in (direct, fanout):
            q(conn.channel()).delete()
    assert sorted(got) == ["to-direct", "to-fanout"]
