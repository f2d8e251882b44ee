"""The routing engine: exchange types for virtual transports.

Routing follows AMQP 0-9-1. A binding table is a list of
``(routing_key, pattern, queue)`` tuples (Kombu 5's layout, so transports
that store tables keep their format). Each exchange type compiles a table
once into a :class:`Router`, whose :meth:`Router.lookup` is the per-message
hot path: a dict access for direct, precompiled regexes for topic.

- direct: the routing key equals the binding key.
- topic: binding keys are dot-separated words; ``*`` matches exactly one
  word, ``#`` zero or more (so ``stock.#`` matches ``stock``).
- fanout: every bound queue, whatever the routing key.
- headers: binding arguments are matched against message headers;
  ``x-match`` is ``all`` (default) or ``any``; ``x-`` keys are not matched.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kombu.transport.virtual.base import Channel

__all__ = (
    "Binding",
    "Router",
    "ExchangeType",
    "DirectExchange",
    "TopicExchange",
    "FanoutExchange",
    "HeadersExchange",
    "STANDARD_EXCHANGE_TYPES",
    "topic_regex",
)

Binding = tuple[str, Any, str]


class Router:
    """A compiled binding table: maps a routing key (and headers) to queues."""

    __slots__ = ("table",)

    def __init__(self, table: Sequence[Binding]) -> None:
        self.table = table

    def lookup(self, routing_key: str, headers: Mapping[str, Any] | None = None) -> list[str]:
        """Return the queues a message with ``routing_key`` is routed to."""
        raise NotImplementedError


class DirectRouter(Router):
    __slots__ = ("by_key",)

    def __init__(self, table: Sequence[Binding]) -> None:
        super().__init__(table)
        by_key: dict[str, list[str]] = {}
        for rkey, _, queue in table:
            queues = by_key.setdefault(rkey, [])
            if queue not in queues:
                queues.append(queue)
        self.by_key = by_key

    def lookup(self, routing_key: str, headers: Mapping[str, Any] | None = None) -> list[str]:
        return self.by_key.get(routing_key, [])


def topic_regex(binding_key: str) -> re.Pattern[str]:
    """Compile an AMQP topic binding key.

    The regex is matched (``fullmatch``) against ``"." + routing_key``, so
    every word, including the first, is preceded by a dot.
    """
    parts = []
    for word in binding_key.split("."):
        if word == "#":
            parts.append(r"(?:\.[^.]*)*")
        elif word == "*":
            parts.append(r"\.[^.]*")
        else:
            parts.append(r"\." + re.escape(word))
    return re.compile("".join(parts))


class TopicRouter(Router):
    __slots__ = ("exact", "patterns", "_cache")

    def __init__(self, table: Sequence[Binding]) -> None:
        super().__init__(table)
        exact: dict[str, list[str]] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for rkey, _, queue in table:
            words = rkey.split(".")
            if "#" in words or "*" in words:
                patterns.append((topic_regex(rkey), queue))
            else:
                exact.setdefault(rkey, []).append(queue)
        self.exact = exact
        self.patterns = patterns
        self._cache: dict[str, list[str]] = {}

    def lookup(self, routing_key: str, headers: Mapping[str, Any] | None = None) -> list[str]:
        try:
            return self._cache[routing_key]
        except KeyError:
            pass
        found = list(self.exact.get(routing_key, ()))
        dotted = "." + routing_key
        for regex, queue in self.patterns:
            if queue not in found and regex.fullmatch(dotted):
                found.append(queue)
        if len(self._cache) < 4096:
            self._cache[routing_key] = found
        return found


class FanoutRouter(Router):
    __slots__ = ("queues",)

    def __init__(self, table: Sequence[Binding]) -> None:
        super().__init__(table)
        self.queues = list(dict.fromkeys(queue for _, _, queue in table))

    def lookup(self, routing_key: str, headers: Mapping[str, Any] | None = None) -> list[str]:
        return self.queues


def _headers_arguments(pattern: Any) -> dict[str, Any]:
    if isinstance(pattern, str):
        return json.loads(pattern) if pattern else {}
    return dict(pattern or {})


class HeadersRouter(Router):
    __slots__ = ("matchers",)

    def __init__(self, table: Sequence[Binding]) -> None:
        super().__init__(table)
        matchers = []
        for _, pattern, queue in table:
            args = _headers_arguments(pattern)
            match_any = str(args.get("x-match", "all")).lower().startswith("any")
            wanted = {k: v for k, v in args.items() if not k.startswith("x-")}
            matchers.append((match_any, wanted, queue))
        self.matchers = matchers

    def lookup(self, routing_key: str, headers: Mapping[str, Any] | None = None) -> list[str]:
        headers = headers or {}
        found: list[str] = []
        for match_any, wanted, queue in self.matchers:
            if queue in found:
                continue
            hits = (k in headers and (v is None or headers[k] == v) for k, v in wanted.items())
            if any(hits) if match_any else all(hits):
                found.append(queue)
        return found


class ExchangeType:
    """An exchange type: how bindings are prepared and messages routed.

    ``prepare_bind`` turns a binding into the table tuple a transport
    stores; ``compile`` turns a whole table into a :class:`Router`;
    ``deliver`` puts one message on every queue it routes to.
    """

    type: str = ""
    router_class: builtins.type[Router] = Router

    def __init__(self, channel: Channel | None = None) -> None:
        self.channel = channel

    def prepare_bind(self, queue: str, exchange: str, routing_key: str, arguments: Mapping[str, Any] | None) -> Binding:
        """Return the ``(routing_key, pattern, queue)`` table entry of a binding."""
        return routing_key, None, queue

    def compile(self, table: Sequence[Binding]) -> Router:
        """Compile ``table`` for fast lookups."""
        return self.router_class(table)

    def lookup(self, table: Sequence[Binding], exchange: str, routing_key: str, default: Any = None) -> set[str]:
        """Kombu 5's lookup API: the set of queues ``routing_key`` reaches."""
        return set(self.compile(table).lookup(routing_key))

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None:
        """Put ``message`` on each queue the exchange routes it to."""
        channel = self.channel
        assert channel is not None
        queues = channel._lookup(exchange, routing_key, headers=message.get("headers"))
        policies = getattr(channel, "_policies", None)
        if policies is not None:
            for queue in queues:
                if queue not in policies:
                    # A queue this process never declared: its limits may be stored on the
                    # broker by the process that did (loaded once, then one dict lookup).
                    channel._policy(queue)
        # Queues with a length limit go through the engine's overflow check.
        put = channel._put_limited if getattr(channel, "_limits", None) else channel._put
        if len(queues) == 1:
            put(queues[0], message, **kwargs)
            return
        for i, queue in enumerate(queues):
            # Every copy is its own delivery, with its own delivery tag.
            put(queue, message if i == 0 else channel._copy_envelope(message), **kwargs)

    def equivalent(
        self,
        prev: Mapping[str, Any],
        exchange: str,
        type: str,
        durable: bool,
        auto_delete: bool,
        arguments: Mapping[str, Any] | None,
    ) -> bool:
        """Whether a redeclaration matches the existing declaration ``prev``."""
        return (
            type == prev["type"]
            and durable == prev["durable"]
            and auto_delete == prev["auto_delete"]
            and (arguments or {}) == (prev["arguments"] or {})
        )


class DirectExchange(ExchangeType):
    """Routes to queues whose binding key equals the routing key."""

    type = "direct"
    router_class = DirectRouter


class TopicExchange(ExchangeType):
    """Routes by dot-separated words with ``*`` and ``#`` wildcards."""

    type = "topic"
    router_class = TopicRouter
    #: Kombu 5's regex translation, stored as the pattern for compatibility.
    wildcards = {"*": r"[^\.]+", "#": r".*?"}

    def prepare_bind(self, queue: str, exchange: str, routing_key: str, arguments: Mapping[str, Any] | None) -> Binding:
        return routing_key, self.key_to_pattern(routing_key), queue

    def key_to_pattern(self, rkey: str) -> str:
        """Kombu 5's stored regex for ``rkey`` (kept for mixed fleets; not used to route)."""
        escaped = "".join(c if c.isalnum() or c in ".#*" else ("\\000" if c == "\0" else "\\" + c) for c in rkey)
        return "^" + r"\.".join(self.wildcards.get(w, w) for w in escaped.split(".")) + "$"


class FanoutExchange(ExchangeType):
    """Routes a copy to every bound queue, ignoring the routing key.

    A channel with ``supports_fanout`` broadcasts through the transport's own
    mechanism (``Channel._put_fanout``); otherwise each bound queue gets a copy.
    """

    type = "fanout"
    router_class = FanoutRouter

    def deliver(self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any) -> None:
        channel = self.channel
        assert channel is not None
        if channel.supports_fanout:
            channel._put_fanout(exchange, message, routing_key, **kwargs)
        else:
            super().deliver(message, exchange, routing_key, **kwargs)


class HeadersExchange(ExchangeType):
    """Routes by matching binding arguments against message headers."""

    type = "headers"
    router_class = HeadersRouter

    def prepare_bind(self, queue: str, exchange: str, routing_key: str, arguments: Mapping[str, Any] | None) -> Binding:
        return routing_key, json.dumps(dict(arguments or {}), sort_keys=True), queue


STANDARD_EXCHANGE_TYPES: dict[str, type[ExchangeType]] = {
    "direct": DirectExchange,
    "topic": TopicExchange,
    "fanout": FanoutExchange,
    "headers": HeadersExchange,
}


def exchange_types(names: Iterable[str]) -> dict[str, type[ExchangeType]]:
    """The standard exchange type classes for ``names``."""
    return {name: STANDARD_EXCHANGE_TYPES[name] for name in names}
