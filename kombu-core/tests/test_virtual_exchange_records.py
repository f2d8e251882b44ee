"""The virtual engine's exchange-record hooks: a second process finds an exchange it never declared.

``RecordsTransport`` is memory:// where each connection is a "process" of
its own (its own ``BrokerState``: exchanges and bindings) over the shared
in-process broker (queues and messages), and the channel keeps exchange
records in :data:`RECORDS`, the "broker" every process sees, logging every
hook call.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kombu import Connection, Consumer, Producer, Queue
from kombu.exceptions import ChannelError
from kombu.transport import memory, virtual
from kombu.transport.virtual import NotEquivalentError

_names = itertools.count(1)

#: Exchange records stored by any process (the shared broker's side).
RECORDS: dict[str, dict[str, Any]] = {}
#: Every hook call: (hook, exchange).
CALLS: list[tuple[str, str]] = []


class RecordsChannel(memory.Channel):
    #: Store only the type, as sqs and mongodb do (they keep it with the bindings).
    type_only = False

    def _store_exchange_record(self, exchange: str, record: Mapping[str, Any]) -> None:
        CALLS.append(("store", exchange))
        RECORDS[exchange] = {"type": record["type"]} if self.type_only else dict(record)

    def _load_exchange_record(self, exchange: str) -> Mapping[str, Any] | None:
        CALLS.append(("load", exchange))
        return RECORDS.get(exchange)

    def _delete_exchange_record(self, exchange: str) -> None:
        CALLS.append(("delete", exchange))
        RECORDS.pop(exchange, None)


class RecordsTransport(memory.Transport):
    Channel = RecordsChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = virtual.BrokerState()  # a process of its own, not memory://'s shared topology


@pytest.fixture
def process() -> Iterator[Any]:
    """Open "processes" (connections with separate states); closed at the end."""
    if RecordsTransport.capabilities is None:
        with Connection("memory://") as plain:
            RecordsTransport.capabilities = plain.transport.capabilities
    opened: list[Connection] = []

    def open_one() -> Connection:
        conn = Connection(transport=RecordsTransport)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def _exchange() -> str:
    return f"records-{next(_names)}"


def _calls(hook: str, exchange: str) -> int:
    return CALLS.count((hook, exchange))


def test_every_declare_offers_the_record_and_it_is_loaded_once(process: Any) -> None:
    ex = _exchange()
    chan = process().default_channel
    chan.exchange_declare(ex, "topic", durable=True)
    chan.exchange_declare(ex, "topic", durable=True)
    assert RECORDS[ex] == {"type": "topic", "durable": True, "auto_delete": False, "arguments": {}}
    # The transport decides how often it writes (once per connection, say).
    assert _calls("store", ex) == 2 and _calls("load", ex) == 1


def test_another_process_redeclaring_offers_the_stored_record(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "fanout", durable=True)
    process().default_channel.exchange_declare(ex, "fanout", durable=True)
    assert _calls("store", ex) == 2 and _calls("load", ex) == 2
    assert RECORDS[ex] == {"type": "fanout", "durable": True, "auto_delete": False, "arguments": {}}


def test_a_conflicting_redeclare_stores_nothing(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "fanout")
    with pytest.raises(NotEquivalentError):
        process().default_channel.exchange_declare(ex, "direct")
    assert _calls("store", ex) == 1 and RECORDS[ex]["type"] == "fanout"


def test_a_passive_declare_finds_an_exchange_declared_by_another_process(process: Any) -> None:
    ex = _exchange()
    with pytest.raises(ChannelError, match="NOT_FOUND"):
        process().default_channel.exchange_declare(ex, passive=True)
    process().default_channel.exchange_declare(ex, "topic")
    other = process().default_channel
    other.exchange_declare(ex, passive=True)
    assert other.state.exchanges[ex]["type"] == "topic"


def test_typeof_learns_the_type_once_then_is_a_dict_lookup(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "headers")
    other = process().default_channel
    loads = _calls("load", ex)
    assert other.typeof(ex).type == "headers"
    assert other.typeof(ex).type == "headers"
    assert _calls("load", ex) == loads + 1


def test_typeof_of_an_exchange_found_nowhere_is_the_default_and_asked_again(process: Any) -> None:
    ex = _exchange()
    chan = process().default_channel
    assert chan.typeof(ex).type == "direct"
    assert chan.typeof(ex, default="fanout").type == "fanout"
    assert _calls("load", ex) == 2
    assert ex not in chan.state.exchanges


def test_a_redeclare_with_another_type_is_refused_against_the_stored_record(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "topic")
    other = process().default_channel
    with pytest.raises(NotEquivalentError):
        other.exchange_declare(ex, "direct")
    other.exchange_declare(ex, "topic")  # the same declaration is fine


def test_a_redeclare_with_another_stored_durability_is_refused(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "direct", durable=True)
    with pytest.raises(NotEquivalentError):
        process().default_channel.exchange_declare(ex, "direct", durable=False)


def test_fields_a_record_leaves_out_are_filled_by_the_next_declare(process: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(RecordsChannel, "type_only", True)
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "topic", durable=True)
    assert RECORDS[ex] == {"type": "topic"}
    other = process().default_channel
    other.exchange_declare(ex, "topic", durable=False)  # durability was not stored: no conflict
    with pytest.raises(NotEquivalentError):
        other.exchange_declare(ex, "topic", durable=True)  # now it is known here
    assert other.state.exchanges[ex] == {
        "type": "topic",
        "durable": False,
        "auto_delete": False,
        "arguments": {},
        "table": [],
    }


def test_a_process_that_never_declared_the_exchange_routes_by_its_stored_type(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "topic")
    other = process()
    chan = other.default_channel
    queue = Queue(f"{ex}-q", no_declare=True)
    chan.queue_declare(queue.name)
    chan.queue_bind(queue.name, ex, "stock.#")  # binds without declaring: the topic type is learned
    Producer(chan, serializer="json").publish({"n": 1}, exchange=ex, routing_key="stock.usd.nyse")
    got: list[Any] = []
    with Consumer(chan, [queue], callbacks=[lambda body, m: (got.append(body), m.ack())]):
        other.drain_events(timeout=2)
    assert got == [{"n": 1}]


def test_exchange_delete_removes_the_record_even_from_a_process_that_never_knew_it(process: Any) -> None:
    ex = _exchange()
    process().default_channel.exchange_declare(ex, "topic")
    process().default_channel.exchange_delete(ex)
    assert ex not in RECORDS and _calls("delete", ex) == 1
    with pytest.raises(ChannelError, match="NOT_FOUND"):
        process().default_channel.exchange_declare(ex, passive=True)
