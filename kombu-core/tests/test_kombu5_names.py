"""Kombu 5.7 names the parity test only proves exist: here, that they behave.

Virtual transports: ``binding_key_t``/``queue_binding_t``, the FairCycle
attributes (``Channel.cycle``, ``Transport.Cycle``/``cycle``),
``Transport.on_message_ready``, ``Management.channel``/``close``.
Connection: ``failover_strategies``/``resolve_aliases`` and what ``info()``
reports. URLs: ``parse_ssl_cert_reqs``, ``sanitize_url`` without the query.
"""

from __future__ import annotations

import pickle
import ssl
from queue import Empty
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from kombu.exceptions import ChannelError
from kombu.transport import virtual
from kombu.transport.base import RABBITMQ_QUEUE_ARGUMENTS, maybe_s_to_ms, to_rabbitmq_queue_arguments
from kombu.transport.virtual.state import BrokerState
from kombu.utils.scheduling import FairCycle
from kombu.utils.url import as_url, maybe_sanitize_url, parse_ssl_cert_reqs, sanitize_url
from kombu.utils.uuid import uuid


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid()}"


# -- virtual: binding tuples ----------------------------------------------------------


def test_broker_state_uses_the_named_binding_tuples() -> None:
    state = BrokerState()
    state.binding_declare("q", "ex", "rk", {"x-match": "all"})
    (key,) = state.bindings
    assert isinstance(key, virtual.binding_key_t)
    assert (key.queue, key.exchange, key.routing_key) == ("q", "ex", "rk")
    (binding,) = state.queue_bindings("q")
    assert isinstance(binding, virtual.queue_binding_t)
    assert binding == ("ex", "rk", {"x-match": "all"})
    assert binding.arguments == {"x-match": "all"}
    # Plain tuples still find the binding (transports look bindings up that way).
    assert state.has_binding("q", "ex", "rk")
    assert state.bindings[("q", "ex", "rk")] == {"x-match": "all"}


# -- virtual: FairCycle attributes and on_message_ready --------------------------------


def test_channel_cycle_takes_turns_over_consumed_queues() -> None:
    q1, q2 = _name("cyc1"), _name("cyc2")
    with Connection("memory://") as conn:
        channel = conn.channel()
        for q in (q1, q2):
            channel.queue_declare(q)
        channel.basic_consume(q1, callback=lambda m: None)
        channel.basic_consume(q2, callback=lambda m: None)
        cycle = channel.cycle
        assert isinstance(cycle, FairCycle)
        assert channel.cycle is cycle
        for q in (q1, q2, q1):
            channel.basic_publish(channel.prepare_message(q), "", q)
        got: list[tuple[Any, str]] = []
        for _ in range(3):
            cycle.get(lambda message, queue: got.append((message["body"], queue)))
        assert sorted(got) == sorted([(q1, q1), (q2, q2), (q1, q1)])
        with pytest.raises(Empty):
            cycle.get(lambda message, queue: None)


def test_transport_cycle_drains_its_channels() -> None:
    q = _name("tcyc")
    with Connection("memory://") as conn:
        transport = conn.transport
        assert type(transport).Cycle is FairCycle
        assert isinstance(transport.cycle, FairCycle)
        assert transport.cycle.resources is transport.channels
        channel = conn.channel()
        channel.queue_declare(q)
        seen: list[Any] = []
        channel.basic_consume(
            q, no_ack=True, callback=lambda m: seen.append(m.body.decode() if isinstance(m.body, bytes) else m.body)
        )
        channel.basic_publish(channel.prepare_message("hello"), "", q)
        transport.cycle.get(None)
        assert seen == ["hello"]
        with pytest.raises(Empty):
            transport.cycle.get(None)


def test_on_message_ready_hands_the_envelope_to_the_consumer() -> None:
    q = _name("ready")
    with Connection("memory://") as conn:
        channel = conn.channel()
        channel.queue_declare(q)
        seen: list[Any] = []
        channel.basic_consume(
            q, no_ack=True, callback=lambda m: seen.append(m.body.decode() if isinstance(m.body, bytes) else m.body)
        )
        envelope = channel.prepare_message("pushed")
        envelope["properties"]["delivery_tag"] = "t1"
        conn.transport.on_message_ready(channel, envelope, q)
        assert seen == ["pushed"]
        with pytest.raises(KeyError, match="without consumers"):
            conn.transport.on_message_ready(channel, envelope, _name("nobody"))
        with pytest.raises(KeyError):
            conn.transport.on_message_ready(channel, envelope, "")


# -- virtual: Management -------------------------------------------------------------


def test_management_holds_a_channel_until_closed() -> None:
    ex, q = _name("mex"), _name("mq")
    with Connection("memory://") as conn:
        Queue(q, Exchange(ex, "direct"), routing_key="rk")(conn.default_channel).declare()
        manager = conn.get_manager()
        channel = manager.channel
        assert not channel.closed
        bindings = manager.get_bindings()
        assert {"destination": q, "source": ex, "routing_key": "rk"} in bindings
        manager.close()
        assert channel.closed


# -- Connection ------------------------------------------------------------------------


def test_failover_strategies_and_aliases_are_class_attributes() -> None:
    assert set(Connection.failover_strategies) >= {"round-robin", "shuffle"}
    assert Connection.resolve_aliases["pyamqp"] == "amqp"
    assert Connection.resolve_aliases["librabbitmq"] == "amqp"


def test_a_strategy_added_to_the_class_is_used_by_name() -> None:
    calls: list[list[str]] = []

    def reverse(urls: list[str]) -> Any:
        calls.append(list(urls))
        while True:
            yield from reversed(urls)

    class MyConnection(Connection):
        failover_strategies = {**Connection.failover_strategies, "reverse": reverse}

    conn = MyConnection("memory://a;memory://b", failover_strategy="reverse")
    assert calls == [["memory://a", "memory://b"]]
    assert conn.info()["failover_strategy"] == "reverse"


def test_info_reports_the_strategy_as_given_and_the_credential_provider() -> None:
    provider = object()
    conn = Connection("memory://", failover_strategy="shuffle", credential_provider=provider)
    info = conn.info()
    assert info["failover_strategy"] == "shuffle"
    assert info["credential_provider"] is provider
    clone = conn.clone()
    assert clone.info()["failover_strategy"] == "shuffle"
    assert clone.credential_provider is provider


def test_pickled_connection_keeps_its_strategy() -> None:
    conn = Connection("memory://localhost/vh", failover_strategy="shuffle")
    copy = pickle.loads(pickle.dumps(conn))
    assert copy.info()["failover_strategy"] == "shuffle"
    assert copy.virtual_host == "vh"


def test_ensure_does_not_retry_a_channel_error() -> None:
    """A NOT_FOUND is deterministic: it reaches the caller at once, typed."""
    attempts: list[int] = []
    with Connection("memory://") as conn:
        channel = conn.channel()

        def passive_declare() -> Any:
            attempts.append(1)
            return channel.queue_declare(_name("missing"), passive=True)

        ensured = conn.ensure(channel, passive_declare, max_retries=5, interval_start=0, interval_step=0)
        with pytest.raises(ChannelError, match="NOT_FOUND"):
            ensured()
    assert len(attempts) == 1


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CERT_REQUIRED", ssl.CERT_REQUIRED),
        ("required", ssl.CERT_REQUIRED),
        ("CERT_OPTIONAL", ssl.CERT_OPTIONAL),
        ("optional", ssl.CERT_OPTIONAL),
        ("CERT_NONE", ssl.CERT_NONE),
        ("none", ssl.CERT_NONE),
    ],
)
def test_parse_ssl_cert_reqs(value: str, expected: int) -> None:
    assert parse_ssl_cert_reqs(value) == expected


def test_parse_ssl_cert_reqs_refuses_other_values() -> None:
    with pytest.raises(KeyError):
        parse_ssl_cert_reqs("maybe")


def test_sanitized_url_leaves_out_the_query_and_its_secrets() -> None:
    url = "sqs://key:s3cret@host:4566/vh?sts_token=t0ken&region=eu"
    for shown in (sanitize_url(url), maybe_sanitize_url(url)):
        assert "s3cret" not in shown
        assert "t0ken" not in shown
        assert shown == "sqs://key:**@host:4566/vh"


def test_as_url_always_has_a_slash_after_the_host() -> None:
    assert as_url("redis", host="h") == "redis://h/"
    assert as_url("redis", host="h", port=6379, path="0") == "redis://h:6379/0"
    assert as_url("amqp", host="h", path="/") == "amqp://h//"
    assert as_url("redis", host="h", query={"a": "1"}) == "redis://h/"


# -- transport.base helpers ----------------------------------------------------------


def test_to_rabbitmq_queue_arguments_converts_kombu_options() -> None:
    args = to_rabbitmq_queue_arguments(
        {"x-queue-mode": "lazy"}, expires=1.5, message_ttl=0.25, max_length="10", max_priority=5, max_length_bytes=None
    )
    assert args == {
        "x-queue-mode": "lazy",
        "x-expires": 1500,
        "x-message-ttl": 250,
        "x-max-length": 10,
        "x-max-priority": 5,
    }
    assert set(RABBITMQ_QUEUE_ARGUMENTS) == {"expires", "message_ttl", "max_length", "max_length_bytes", "max_priority"}
    assert maybe_s_to_ms(None) is None
    assert maybe_s_to_ms(2) == 2000


def test_kombu_connection_exports_resource() -> None:
    from kombu.connection import Resource
    from kombu.resource import Resource as ResourceBase

    assert Resource is ResourceBase


# -- memory:// -----------------------------------------------------------------------


def test_memory_channel_queues_and_global_state() -> None:
    q = _name("memq")
    with Connection("memory://") as conn:
        channel = conn.channel()
        channel.queue_declare(q)
        assert channel.queues[q].qsize() == 0
        assert channel.queues[q].empty()
        channel.basic_publish(channel.prepare_message("x"), "", q)
        channel.basic_publish(channel.prepare_message("y"), "", q)
        assert channel.queues[q].qsize() == 2
        assert not channel.queues[q].empty()
        with Connection("memory://") as other:
            assert other.channel().queues[q].qsize() == 2
        assert type(conn.transport).global_state is conn.transport.state
        channel.queue_delete(q)
        assert q not in channel.queues


def test_parse_url_gathers_ssl_options() -> None:
    from kombu.utils.url import parse_url

    kwargs = parse_url(
        "rediss://user:pw@host:6379/0?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem&ssl_check_hostname=false&x=1"
    )
    assert kwargs["ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/ca.pem", "ssl_check_hostname": False}
    assert kwargs["x"] == "1"
    assert parse_url("rediss://h/0?ssl_check_hostname=on")["ssl"] == {"ssl_check_hostname": True}
    assert parse_url("amqp://h//?ssl=1&ssl_cert_reqs=none")["ssl"] == {"ssl_cert_reqs": ssl.CERT_NONE}
    with pytest.raises(ValueError, match="ssl_cert_reqs") as excinfo:
        parse_url("rediss://user:s3cret@h/0?ssl_cert_reqs=bogus")
    assert "s3cret" not in str(excinfo.value)


# -- utils: Kombu 5.7 behaviour --------------------------------------------------------


def test_retry_over_time_never_waits_longer_than_interval_max(monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.utils import functional

    slept: list[float] = []
    seen: list[float] = []
    monkeypatch.setattr(functional, "sleep", slept.append)

    def fail() -> None:
        raise KeyError("x")

    def errback(exc: BaseException, intervals: Any, retries: int) -> float:
        seen.append(next(intervals))
        return 20.0 if retries == 3 else seen[-1]

    with pytest.raises(KeyError):
        functional.retry_over_time(
            fail, KeyError, errback=errback, max_retries=6, interval_start=1, interval_step=2, interval_max=6
        )
    assert seen == [1.0, 3.0, 5.0, 6.0, 6.0, 6.0]
    assert sum(slept) == 1 + 3 + 5 + 6 + 6 + 6  # the errback's 20 s is clamped to 6


def test_token_bucket_idle_at_capacity_does_not_refill(monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.utils import limits

    clock = [1000.0]
    monkeypatch.setattr(limits, "monotonic", lambda: clock[0])
    bucket = limits.TokenBucket(fill_rate=0.1, capacity=3)
    clock[0] = 1600.0  # ten minutes idle while full
    assert [bucket.can_consume() for _ in range(5)] == [True, True, True, False, False]
    clock[0] = 1610.0
    assert bucket.can_consume()
    assert not bucket.can_consume()


def test_lru_cache_incr_stores_a_string_like_memcached() -> None:
    from kombu.utils.functional import LRUCache

    cache = LRUCache()
    cache["n"] = "1"
    assert cache.incr("n") == 2
    assert cache["n"] == "2"


def test_channel_promise_error_is_not_chained() -> None:
    from kombu.utils.functional import ChannelPromise

    def factory() -> Any:
        raise RuntimeError("no channel")

    with pytest.raises(RuntimeError) as excinfo:
        ChannelPromise(factory)()
    assert excinfo.value.__context__ is None


def test_accepts_argument_counts_self_and_refuses_non_callables() -> None:
    from kombu.utils.functional import accepts_argument

    class Thing:
        def method(self, foo: int, *, bar: int = 0) -> None: ...

    assert accepts_argument(Thing().method, "self")
    assert accepts_argument(Thing().method, "bar")
    assert not accepts_argument(Thing().method, "baz")
    with pytest.raises(TypeError):
        accepts_argument(None, "foo")  # type: ignore[arg-type]


def test_default_encoding_follows_the_default_encoding_file() -> None:
    import io
    import sys

    from kombu.utils import encoding

    previous = encoding.get_default_encoding_file()
    try:
        stream = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
        encoding.set_default_encoding_file(stream)
        assert encoding.get_default_encoding_file() is stream
        assert encoding.default_encoding() == "latin-1"
        encoding.set_default_encoding_file(None)
        assert encoding.default_encoding() == sys.getfilesystemencoding()
    finally:
        encoding.set_default_encoding_file(previous)


def test_symbol_by_name_with_only_a_package() -> None:
    import kombu
    from kombu.utils.imports import symbol_by_name

    assert symbol_by_name(":Consumer", package="kombu") is kombu
    assert symbol_by_name(".entity:Exchange", package="kombu") is Exchange


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.3.1.a3.40c32", (3, 3, 1, "a3", "40c32")),
        ("3.3.1a3-40", (3, 3, 1, "a3", "40")),
        ("3.3.1a3", (3, 3, 1, "a3", "")),
        ("5.7", (5, 7, 0, "", "")),
    ],
)
def test_version_string_as_tuple(text: str, expected: tuple[Any, ...]) -> None:
    from kombu.utils.text import version_string_as_tuple

    assert tuple(version_string_as_tuple(text)) == expected


def test_fileno_of_none_is_a_value_error() -> None:
    from kombu.utils.compat import fileno, maybe_fileno

    with pytest.raises(ValueError, match="None"):
        fileno(None)
    assert maybe_fileno(None) is None
    assert fileno(7) == 7


def test_as_uri_calls_a_password_provider_only_to_show_the_password() -> None:
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return "t0ken"

    conn = Connection("memory://user@localhost//", password=provider)
    assert conn.password is provider
    assert "t0ken" not in conn.as_uri()
    assert "**" in conn.as_uri()
    assert calls == []
    assert "user:t0ken@" in conn.as_uri(include_password=True)
    assert conn.clone().password is provider


def test_a_failover_list_whose_first_entry_holds_several_urls() -> None:
    conn = Connection(["memory://a;memory://b", "memory://c"])
    assert conn.alt == ["memory://a", "memory://b", "memory://c"]
    assert conn.hostname == "a"
    conn = Connection("memory://a;memory://b;", alternates=["memory://c"])
    assert conn.alt == ["memory://a", "memory://b", "memory://c"]
    assert conn.hostname == "a"


# -- pools --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Pool", "ChannelPool"])
def test_growing_a_pool_counts_the_resources_in_use(kind: str) -> None:
    with Connection("memory://") as conn:
        pool = getattr(conn, kind)(1)
        first = pool.acquire()
        with pytest.raises(pool.LimitExceeded):
            pool.acquire()
        pool.resize(2)
        assert pool._resource.qsize() == 1  # one free, one in use: two in all
        second = pool.acquire()
        with pytest.raises(pool.LimitExceeded):
            pool.acquire()
        first.release()
        second.release()
        assert pool._resource.qsize() == 2
        with pytest.raises(TypeError):
            pool.resize(True)
        pool.force_close_all()


def test_shrinking_a_pool_with_ignore_errors_counts_the_resources_in_use() -> None:
    with Connection("memory://") as conn:
        pool = conn.ChannelPool(5)
        held = [pool.acquire() for _ in range(4)]
        pool.resize(4, ignore_errors=True)
        assert pool._resource.qsize() == 0
        for channel in held:
            channel.release()
        assert pool._resource.qsize() == 4
        pool.force_close_all()


def test_a_made_resource_whose_prepare_fails_goes_back_to_the_pool() -> None:
    with Connection("memory://") as conn:
        pool = conn.Pool(1)
        made = pool.acquire()
        made.release()

        def failing_prepare(resource: Any) -> Any:
            raise MemoryError()

        pool.prepare = failing_prepare  # type: ignore[method-assign]
        with pytest.raises(MemoryError):
            pool.acquire()
        assert pool._resource.qsize() == 1
        assert not pool._dirty
        del pool.prepare
        assert pool.acquire() is made
        pool.force_close_all()


def test_a_virtual_transport_without_its_own_state_gets_one_per_connection() -> None:
    class Plain(virtual.Transport):
        pass

    class Shared(virtual.Transport):
        state = virtual.BrokerState()

    first, second = Plain(None), Plain(None)
    assert first.state is not second.state
    assert first.state is not virtual.Transport.state
    assert Shared(None).state is Shared(None).state is Shared.state
    with Connection("memory://") as a, Connection("memory://") as b:
        assert a.transport.state is b.transport.state  # one in-process broker


def test_an_unroutable_message_sent_to_the_default_queue_is_warned_about() -> None:
    with Connection("memory://") as conn:
        channel = conn.channel()
        with pytest.warns(virtual.UndeliverableWarning, match="could not be delivered"):
            assert channel._lookup(_name("nowhere"), "rk", _name("fallback"))
