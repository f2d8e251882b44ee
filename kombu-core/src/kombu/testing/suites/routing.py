"""Exchange types, with AMQP 0-9-1 routing semantics, and bindings.

Every exchange type the transport declares is tested; each type of
``direct``/``topic``/``fanout``/``headers`` it does not declare must make
``Exchange.declare`` raise :class:`kombu.exceptions.CapabilityNotSupported`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ..base import ConformanceBase, Recorder, requires

__all__ = ("RoutingConformance", "ExchangeTypeRoutingConformance", "amqp_topic_match")

ALL_TYPES = ("direct", "topic", "fanout", "headers")


def amqp_topic_match(pattern: str, key: str) -> bool:
    """AMQP 0-9-1 topic matching: ``*`` is exactly one word, ``#`` zero or more.

    The kit's reference, used to state what every transport must route.
    """
    words = key.split(".") if key else []
    parts = pattern.split(".") if pattern else []

    def match(i: int, j: int) -> bool:
        if i == len(parts):
            return j == len(words)
        if parts[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(words) + 1))
        if j == len(words):
            return False
        return (parts[i] == "*" or parts[i] == words[j]) and match(i + 1, j + 1)

    return match(0, 0)


class ExchangeTypeRoutingConformance(ConformanceBase):
    """Helpers to route a table of messages through one exchange."""

    def route(
        self,
        type_: str,
        bindings: Mapping[str, Sequence[dict[str, Any]]],
        publishes: Sequence[dict[str, Any]],
        expected_total: int,
    ) -> dict[str, list[Any]]:
        """Bind one queue per label, publish, and return what each queue received.

        ``bindings`` maps a label to the list of bindings of its queue, each a
        dict with ``routing_key`` and/or ``arguments``. ``publishes`` are
        keyword arguments for ``Producer.publish`` (``body`` included). Every
        queue has an active consumer before the first publish; the queues are
        consumed until ``expected_total`` messages arrived, then watched for
        strays.
        """
        from kombu import Consumer, Queue, binding

        conn = self.connection()
        channel = conn.default_channel
        exchange = self.exchange(type_)
        exchange(channel).declare()
        queues: dict[str, Queue] = {}
        for label, binds in bindings.items():
            qname = self.name(label)
            queue = Queue(
                qname,
                bindings=[
                    binding(exchange, routing_key=b.get("routing_key", ""), arguments=b.get("arguments")) for b in binds
                ],
            )
            self._kit_queues.append(queue)
            queue(channel).declare()
            queues[label] = queue
        received: dict[str, Recorder] = {label: Recorder(ack=True) for label in queues}
        consumers = [Consumer(channel, [queue], callbacks=[received[label]]) for label, queue in queues.items()]
        for consumer in consumers:
            consumer.consume()
        try:
            # Consumers are active before anything is published (some fanout
            # implementations deliver only to active consumers); one short
            # drain lets transports that subscribe lazily do so.
            self.watch(conn, 0.2)
            for kwargs in publishes:
                kwargs = dict(kwargs)
                body = kwargs.pop("body")
                self.publish(conn, exchange, body, **kwargs)
            self.drain(conn, lambda: sum(map(len, received.values())) >= expected_total)
            self.watch(conn)
        finally:
            for consumer in consumers:
                consumer.cancel()
        return {label: sorted(rec.bodies) for label, rec in received.items()}


class RoutingConformance(ExchangeTypeRoutingConformance):
    """direct, topic, fanout and headers exchanges; bind/unbind; undeclared types."""

    # -- direct ------------------------------------------------------------
    @requires("exchange:topic")
    @requires("exchange:direct")
    def test_direct_routes_by_exact_key(self) -> None:
        got = self.route(
            "direct",
            {
                "a": [{"routing_key": "a"}],
                "a2": [{"routing_key": "a"}],
                "b": [{"routing_key": "b"}],
                "ab": [{"routing_key": "a"}, {"routing_key": "b"}],
            },
            [
                {"body": "to-a", "routing_key": "a"},
                {"body": "to-b", "routing_key": "b"},
                {"body": "to-c", "routing_key": "c"},
                {"body": "to-a.x", "routing_key": "a.x"},
            ],
            expected_total=5,
        )
        assert got == {"a": ["to-a"], "a2": ["to-a"], "b": ["to-b"], "ab": ["to-a", "to-b"]}

    # -- topic -------------------------------------------------------------
    TOPIC_CASES: tuple[tuple[str, str, bool], ...] = (
        ("stock.#", "stock", True),
        ("stock.#", "stock.usd", True),
        ("stock.#", "stock.usd.nyse", True),
        ("stock.#", "stocks.usd", False),
        ("#.nyse", "nyse", True),
        ("#.nyse", "stock.usd.nyse", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
        ("#", "", True),
        ("#", "any.thing.at.all", True),
        ("*.usd", "stock.usd", True),
        ("*.usd", "usd", False),
        ("*.usd", "a.stock.usd", False),
        ("stock.*", "stock", False),
        ("stock.*", "stock.eur", True),
        ("stock.*", "stock.eur.x", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("a.*.c", "a.b.b.c", False),
        ("*", "word", True),
        ("*", "two.words", False),
        ("lit.key", "lit.key", True),
        ("lit.key", "lit.keys", False),
        ("lit.key", "litXkey", False),
    )

    def _check_topic(self, cases: Sequence[tuple[str, str, bool]]) -> None:
        for pattern, key, match in cases:  # the kit's own table must be AMQP's
            assert amqp_topic_match(pattern, key) == match, (pattern, key)
        patterns = sorted({pattern for pattern, _, _ in cases})
        keys = sorted({key for _, key, _ in cases})
        labels = {pattern: f"p{i}" for i, pattern in enumerate(patterns)}
        expected = {labels[p]: sorted(f"key:{k}" for k in keys if amqp_topic_match(p, k)) for p in patterns}
        got = self.route(
            "topic",
            {labels[p]: [{"routing_key": p}] for p in patterns},
            [{"body": f"key:{key}", "routing_key": key} for key in keys],
            expected_total=sum(map(len, expected.values())),
        )
        wrong = [
            f"pattern {p!r} key {k!r} (should {'' if f'key:{k}' in expected[labels[p]] else 'not '}match)"
            for p in patterns
            for k in keys
            if (f"key:{k}" in got[labels[p]]) != (f"key:{k}" in expected[labels[p]])
        ]
        assert not wrong, "topic routing differs from AMQP 0-9-1 for " + ", ".join(wrong) + f"; received: {got}"

    def test_topic_hash_matches_zero_or_more_words(self) -> None:
        self._check_topic([c for c in self.TOPIC_CASES if "#" in c[0]])

    def test_topic_star_matches_exactly_one_word(self) -> None:
        self._check_topic([c for c in self.TOPIC_CASES if "*" in c[0]])

    def test_topic_literal_pattern_matches_only_itself(self) -> None:
        self._check_topic([c for c in self.TOPIC_CASES if "#" not in c[0] and "*" not in c[0]])

    @requires("exchange:topic")
    def test_topic_copy_per_queue_not_per_binding(self) -> None:
        got = self.route(
            "topic",
            {"both": [{"routing_key": "x.*"}, {"routing_key": "#.y"}]},
            [{"body": "xy", "routing_key": "x.y"}],
            expected_total=1,
        )
        assert got == {"both": ["xy"]}

    # -- fanout ------------------------------------------------------------
    @requires("exchange:fanout")
    def test_fanout_copies_to_every_queue_ignoring_key(self) -> None:
        got = self.route(
            "fanout",
            {"one": [{"routing_key": "one"}], "two": [{"routing_key": "two"}], "none": [{"routing_key": ""}]},
            [{"body": "news", "routing_key": "unrelated"}],
            expected_total=3,
        )
        assert got == {"one": ["news"], "two": ["news"], "none": ["news"]}

    # -- headers -----------------------------------------------------------
    @requires("exchange:headers")
    def test_headers_x_match_all(self) -> None:
        got = self.route(
            "headers",
            {"all": [{"arguments": {"x-match": "all", "format": "pdf", "type": "report"}}]},
            [
                {"body": "both", "headers": {"format": "pdf", "type": "report"}},
                {"body": "extra", "headers": {"format": "pdf", "type": "report", "x": "1"}},
                {"body": "one", "headers": {"format": "pdf"}},
                {"body": "wrong", "headers": {"format": "pdf", "type": "log"}},
                {"body": "none"},
            ],
            expected_total=2,
        )
        assert got == {"all": ["both", "extra"]}

    @requires("exchange:headers")
    def test_headers_x_match_any(self) -> None:
        got = self.route(
            "headers",
            {"any": [{"arguments": {"x-match": "any", "format": "pdf", "type": "report"}}]},
            [
                {"body": "both", "headers": {"format": "pdf", "type": "report"}},
                {"body": "one", "headers": {"format": "pdf"}},
                {"body": "other", "headers": {"type": "report", "format": "zip"}},
                {"body": "neither", "headers": {"format": "zip"}},
                {"body": "none"},
            ],
            expected_total=3,
        )
        assert got == {"any": ["both", "one", "other"]}

    @requires("exchange:headers")
    def test_headers_ignore_routing_key(self) -> None:
        got = self.route(
            "headers",
            {"q": [{"routing_key": "k", "arguments": {"x-match": "all", "a": "1"}}]},
            [{"body": "hit", "routing_key": "other", "headers": {"a": "1"}}],
            expected_total=1,
        )
        assert got == {"q": ["hit"]}

    # -- undeclared types ----------------------------------------------------
    @requires("!exchange:{type_}")
    @pytest.mark.parametrize("type_", ALL_TYPES)
    def test_undeclared_exchange_type_raises(self, type_: str) -> None:
        from kombu.exceptions import CapabilityNotSupported

        conn = self.connection()
        exchange = self.exchange(type_)
        with pytest.raises(CapabilityNotSupported):
            exchange(conn.channel()).declare()

    # -- bindings ------------------------------------------------------------
    @requires("exchange:direct")
    def test_unbind_stops_routing(self) -> None:
        conn = self.connection()
        channel = conn.default_channel
        exchange = self.exchange("direct")
        queue = self.queue(exchange, routing_key="k")
        bound = queue(channel)
        bound.declare()
        self.publish(conn, exchange, "bound", routing_key="k")
        message = self.get_eventually(bound)
        assert message is not None and message.payload == "bound"
        message.ack()
        bound.unbind_from(exchange, routing_key="k")
        self.publish(conn, exchange, "unbound", routing_key="k")
        self.watch(conn)
        assert self.get_all(conn, queue) == []

    @requires("exchange:direct")
    def test_bind_to_second_exchange(self) -> None:
        conn = self.connection()
        channel = conn.default_channel
        queue = self.declared_queue(conn)
        other = self.exchange("direct")
        other(channel).declare()
        queue(channel).bind_to(other, routing_key="extra")
        self.publish(conn, other, "via-other", routing_key="extra")
        message = self.get_eventually(queue(channel))
        assert message is not None and message.payload == "via-other"
        message.ack()
