"""What transports rely on from the core (kombu-transport-amqp/CORE-REQUESTS.md, "please keep").

Each promise is a test here, so a core change that breaks one fails in the core's own suite.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.transport.base import StdChannel


class RecordingChannel(StdChannel):
    """A channel that records the calls the core makes on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.connection = None
        self.channel_id = 1

    def prepare_message(
        self,
        body: Any,
        priority: Any = None,
        content_type: Any = None,
        content_encoding: Any = None,
        headers: Any = None,
        properties: Any = None,
    ) -> dict[str, Any]:
        self.calls.append(("prepare_message", {"body": body, "priority": priority}))
        return {"body": body}

    def basic_publish(self, message: Any, exchange: str = "", routing_key: str = "", **kwargs: Any) -> None:
        self.calls.append(("basic_publish", {"exchange": exchange, "routing_key": routing_key, **kwargs}))

    def queue_declare(self, queue: str = "", **kwargs: Any) -> tuple[str, int, int]:
        self.calls.append(("queue_declare", {"queue": queue, **kwargs}))
        return (queue, 0, 0)

    def exchange_declare(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("exchange_declare", kwargs))

    def queue_bind(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("queue_bind", kwargs))


def test_transport_cls_keeps_the_url_scheme():
    # One TransportInfo serves amqp, pyamqp and amqps: the transport reads the scheme to turn TLS on.
    for scheme in ("amqp", "pyamqp", "amqps"):
        assert Connection(f"{scheme}://guest:guest@127.0.0.1:5672//").transport_cls == scheme


def test_url_query_options_reach_transport_options_as_strings():
    conn = Connection("amqp://h//?confirm_publish=true&write_mode=cork")
    assert conn.transport_options["confirm_publish"] == "true"
    assert conn.transport_options["write_mode"] == "cork"


def test_publish_is_prepare_message_then_basic_publish_and_nothing_else():
    channel = RecordingChannel()
    producer = Producer(channel, exchange=Exchange("promises-x", "direct"), auto_declare=False)
    producer.publish({"n": 1}, routing_key="k", mandatory=True, timeout=3)
    assert [name for name, _ in channel.calls] == ["prepare_message", "basic_publish"]
    publish = channel.calls[1][1]
    assert publish["exchange"] == "promises-x" and publish["routing_key"] == "k"
    assert publish["mandatory"] is True and publish["timeout"] == 3
    assert {"immediate", "confirm_timeout"} <= set(publish)


def test_queue_options_go_through_prepare_queue_arguments():
    channel = RecordingChannel()
    seen: list[dict[str, Any]] = []
    original = channel.prepare_queue_arguments

    def record(arguments: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return original(arguments, **kwargs)

    channel.prepare_queue_arguments = record  # type: ignore[method-assign]
    queue = Queue("promises-q", expires=10, message_ttl=2, max_length=5, max_length_bytes=1024, max_priority=9)
    queue(channel).queue_declare()
    assert seen and {
        k: seen[0][k] for k in ("expires", "message_ttl", "max_length", "max_length_bytes", "max_priority")
    } == {"expires": 10, "message_ttl": 2, "max_length": 5, "max_length_bytes": 1024, "max_priority": 9}
    declared = next(kw for name, kw in channel.calls if name == "queue_declare")
    assert declared["arguments"] == {
        "x-expires": 10000,
        "x-message-ttl": 2000,
        "x-max-length": 5,
        "x-max-length-bytes": 1024,
        "x-max-priority": 9,
    }
