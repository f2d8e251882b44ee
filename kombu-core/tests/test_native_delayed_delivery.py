"""kombu.transport.native_delayed_delivery: Kombu 5.7's delay tree on a real RabbitMQ.

Each test uses its own name prefix (a separate tree) and deletes it afterwards,
so the shared broker's ``celery_delayed_*`` tree is never touched. Kombu 5.7.0
runs in a subprocess from ``.venv-kombu57`` (``make reference``) to check that
both projects compute the same routing keys and declare the same queues.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer, Queue
from kombu.testing.services import missing_service, require_service, tcp_probe
from kombu.transport import native_delayed_delivery as ndd

AMQP_URL = os.environ.get("KOMBU_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PIKA_URL = "pika://" + AMQP_URL.split("://", 1)[1]
REFERENCE = Path(__file__).resolve().parents[2] / ".venv-kombu57" / "bin" / "python"


def rabbitmq() -> None:
    require_service("rabbitmq", tcp_probe("127.0.0.1", 5672))


def reference_python() -> str:
    if not REFERENCE.exists():
        missing_service(f"no Kombu 5.7.0 reference venv at {REFERENCE} (run `make reference`)")
    return str(REFERENCE)


def kombu57(code: str, *args: str) -> Any:
    """Run ``code`` under Kombu 5.7.0; it prints one JSON line, returned decoded."""
    out = subprocess.run(
        [reference_python(), "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd="/",
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh tree prefix; every entity named with it is deleted after the test."""
    rabbitmq()
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    with Connection(AMQP_URL) as conn:
        for level in range(ndd.MAX_LEVEL + 1):
            channel = conn.channel()
            channel.queue_delete(ndd.level_name(level, name))
            channel.exchange_delete(ndd.level_name(level, name))
            channel.close()
        channel = conn.channel()
        channel.exchange_delete(ndd.delivery_exchange_name(name))
        channel.exchange_delete(f"{name}_tasks")
        channel.queue_delete(f"{name}_app")
        channel.close()


# ---------------------------------------------------------------------------- routing keys


@pytest.mark.parametrize(
    ("countdown", "digits"),
    [(1, "0" * 27 + "1"), (5, "0" * 25 + "101"), (2**28 - 1, "1" * 28), (2**27, "1" + "0" * 27)],
)
def test_routing_key_is_the_delay_in_28_binary_digits(countdown: int, digits: str) -> None:
    assert ndd.calculate_routing_key(countdown, "celery") == ".".join(digits) + ".celery"


def test_routing_key_replaces_earlier_delay_digits() -> None:
    once = ndd.calculate_routing_key(9, "tasks.video")
    assert ndd.calculate_routing_key(3, once) == ndd.calculate_routing_key(3, "tasks.video")


@pytest.mark.parametrize(("countdown", "key"), [(0, "celery"), (-4, "celery"), (3, "")])
def test_routing_key_refuses_bad_input(countdown: int, key: str) -> None:
    with pytest.raises(ValueError):
        ndd.calculate_routing_key(countdown, key)


def test_names_are_kombus() -> None:
    assert ndd.level_name(0) == "celery_delayed_0"
    assert ndd.level_name(ndd.MAX_LEVEL) == "celery_delayed_27"
    assert ndd.level_name(3, "app") == "app_celery_delayed_3"
    assert ndd.delivery_exchange_name() == "celery_delayed_delivery"
    assert ndd.delivery_exchange_name("app") == "app_celery_delayed_delivery"
    with pytest.raises(ValueError):
        ndd.level_name(-1)


def test_routing_keys_equal_kombu_57s() -> None:
    samples = [1, 2, 3, 7, 60, 3600, 86400 * 30, 2**28 - 1]
    code = (
        "import json, sys\n"
        "from kombu.transport.native_delayed_delivery import calculate_routing_key as c\n"
        "print(json.dumps([c(n, 'q.x') for n in json.loads(sys.argv[1])] + [c(3, c(9, 'q.x'))]))\n"
    )
    theirs = kombu57(code, json.dumps(samples))
    ours = [ndd.calculate_routing_key(n, "q.x") for n in samples]
    ours.append(ndd.calculate_routing_key(3, ndd.calculate_routing_key(9, "q.x")))
    assert ours == theirs


def test_unknown_queue_type_is_refused_before_declaring() -> None:
    class NoConnection:
        def channel(self) -> Any:
            raise AssertionError("nothing may be declared for a bad queue type")

    with pytest.raises(ValueError, match="classic or quorum"):
        ndd.declare_native_delayed_delivery_exchanges_and_queues(NoConnection(), "lazy")


# ---------------------------------------------------------------------------- on RabbitMQ


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_kombu_57_redeclares_our_tree_without_conflict(prefix: str, queue_type: str) -> None:
    """RabbitMQ refuses a redeclaration with other arguments: Kombu 5.7's succeeds on ours."""
    with Connection(AMQP_URL) as conn:
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, queue_type, prefix)
    code = (
        "import json, sys\n"
        "from kombu import Connection\n"
        "from kombu.transport.native_delayed_delivery import "
        "declare_native_delayed_delivery_exchanges_and_queues as declare\n"
        "with Connection(sys.argv[1]) as conn:\n"
        "    declare(conn, sys.argv[2], sys.argv[3])\n"
        "print(json.dumps('ok'))\n"
    )
    assert kombu57(code, AMQP_URL, queue_type, prefix) == "ok"
    with Connection(AMQP_URL) as conn:
        # Ours again on top (idempotent), then a different queue type is a broker conflict.
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, queue_type, prefix)
        other = "quorum" if queue_type == "classic" else "classic"
        with pytest.raises(Exception, match="PRECONDITION_FAILED|inequivalent"):
            ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, other, prefix)


def app_queue(prefix: str) -> Queue:
    return Queue(f"{prefix}_app", Exchange(f"{prefix}_tasks", "topic"), routing_key=f"{prefix}_app")


def test_each_level_holds_a_message_whose_digit_is_set(prefix: str) -> None:
    """A key with only level L's digit set passes every higher level and waits in queue L."""
    with Connection(AMQP_URL) as conn:
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, "classic", prefix)
        channel = conn.channel()
        producer = Producer(channel, exchange=Exchange(ndd.level_name(ndd.MAX_LEVEL, prefix), "topic"))
        # Levels below 3 expire in under 8 s; the end-to-end test covers them.
        for level in range(ndd.MAX_LEVEL, 2, -1):
            producer.publish({"level": level}, routing_key=ndd.calculate_routing_key(2**level, "k"))
        for level in range(ndd.MAX_LEVEL, 2, -1):
            queue = Queue(ndd.level_name(level, prefix), no_declare=True).bind(channel)
            message = None
            deadline = time.monotonic() + 10
            while message is None and time.monotonic() < deadline:
                message = queue.get(no_ack=True)
            assert message is not None, f"nothing in level {level}'s queue"
            assert message.payload == {"level": level}
            assert queue.get(no_ack=True) is None


@pytest.mark.parametrize("url", [AMQP_URL, PIKA_URL], ids=["amqp", "pika"])
def test_delayed_messages_reach_the_bound_queue_when_due(prefix: str, url: str) -> None:
    with Connection(url) as conn:
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, "classic", prefix)
        queue = app_queue(prefix)
        queue.bind(conn.channel()).declare()
        ndd.bind_queue_to_native_delayed_delivery_exchange(conn, queue, prefix)
        channel = conn.channel()
        producer = Producer(channel, exchange=Exchange(ndd.level_name(ndd.MAX_LEVEL, prefix), "topic"))
        sent = time.monotonic()
        for countdown in (1, 2, 3):
            producer.publish(
                {"countdown": countdown}, routing_key=ndd.calculate_routing_key(countdown, queue.routing_key)
            )
        arrived: dict[int, float] = {}
        bound = queue.bind(channel)
        while len(arrived) < 3 and time.monotonic() - sent < 30:
            message = bound.get(no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            arrived[message.payload["countdown"]] = time.monotonic() - sent
    assert sorted(arrived) == [1, 2, 3], f"arrived: {arrived}"
    for countdown, after in arrived.items():
        # Never early; late only by broker and machine noise (a generous bound).
        assert countdown - 0.05 <= after < countdown + 10, (countdown, after)


def test_direct_exchanges_are_skipped_with_a_warning(prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue(f"{prefix}_app", Exchange(f"{prefix}_tasks", "direct"), routing_key="k")
    with Connection(AMQP_URL) as conn:
        ndd.declare_native_delayed_delivery_exchanges_and_queues(conn, "classic", prefix)
        queue.bind(conn.channel()).declare()
        with caplog.at_level("WARNING"):
            ndd.bind_queue_to_native_delayed_delivery_exchange(conn, queue, prefix)
        assert "direct exchange" in caplog.text
        # Nothing was bound: a due message finds no way to the queue.
        producer = Producer(conn.channel(), exchange=Exchange(ndd.delivery_exchange_name(prefix), "topic"))
        producer.publish({"x": 1}, routing_key="#.k")
        producer.publish({"x": 2}, routing_key="0.k")
        time.sleep(0.5)
        assert queue.bind(conn.channel()).get(no_ack=True) is None
