"""What every conformance test class shares: configuration, names, cleanup, draining.

A transport's test module subclasses :class:`kombu.testing.TransportConformance`
(or some of the area mixins together with :class:`ConformanceBase`) and sets
class attributes:

``url`` (required)
    The broker URL the tests connect to.
``transport_options``
    Passed to every ``Connection`` the kit opens.
``capabilities``
    A :class:`kombu.hookspecs.Capabilities`. When left ``None`` the kit asks
    ``kombu.plugins.transport_info(scheme)`` for the installed plugin's flags.
``network``
    ``True`` enables the fault-proxy tests. When left ``None`` it is derived:
    the URL names a host (and the kit can find its port).
``broker_address``
    ``(host, port)`` the fault proxy forwards to; derived from the URL (port
    falling back to the transport's ``default_port``) when left ``None``.
``fifo``
    The transport delivers messages of one queue (and one priority) in
    publish order. ``True`` by default; SQS-like transports may set ``False``.
``timeout`` / ``quiet_period`` / ``redelivery_timeout``
    Upper bounds, in seconds, for waiting on a message that must arrive, for
    watching that a message does *not* arrive, and for a redelivery after a
    consumer died. They bound the tests so a broken transport fails instead of
    hanging; no test asserts how fast anything happens.

Each test gets fresh entity names from :meth:`ConformanceBase.name` and
declares entities through :meth:`ConformanceBase.queue` /
:meth:`ConformanceBase.exchange`, which deletes them again after the test, so
suites can share a broker and run repeatedly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import uuid4

import pytest

from .proxy import url_address

if TYPE_CHECKING:  # pragma: no cover
    from kombu import Connection, Exchange, Queue
    from kombu.hookspecs import Capabilities
    from kombu.message import Message

__all__ = ("ConformanceBase", "Recorder", "poll", "requires")


def requires(*conditions: str) -> Callable[[Any], Any]:
    """Collect the decorated test only for transports that meet ``conditions``.

    A condition is a capability flag (``"priorities"``), a negated flag
    (``"!priorities"``: the transport does not declare it, so the test checks
    that using it raises), ``"exchange:<type>"`` / ``"!exchange:<type>"``,
    ``"network"`` (the fault proxy can reach the broker) or ``"virtual"`` (the
    transport is built on the virtual engine, so the kit can write raw
    envelopes into its storage). ``{param}`` is
    filled from the test's parametrization. Tests whose conditions are unmet
    are deselected when collected, not skipped: every collected test asserts.
    """

    def mark(test: Any) -> Any:
        test._kit_requires = (*getattr(test, "_kit_requires", ()), *conditions)
        return test

    return mark


class Recorder:
    """A consumer callback that keeps what it received.

    ``bodies`` holds decoded bodies, ``messages`` the :class:`Message` objects,
    in delivery order. With ``ack=True`` each message is acknowledged on
    receipt.
    """

    def __init__(self, ack: bool = False) -> None:
        self.ack = ack
        self.bodies: list[Any] = []
        self.messages: list[Message] = []

    def __call__(self, body: Any, message: Message) -> None:
        self.bodies.append(body)
        self.messages.append(message)
        if self.ack:
            message.ack()

    def __len__(self) -> int:
        return len(self.messages)


class ConformanceBase:
    """Configuration and helpers shared by every conformance area mixin."""

    url: ClassVar[str] = ""
    transport_options: ClassVar[dict[str, Any]] = {}
    capabilities: ClassVar[Capabilities | None] = None
    network: ClassVar[bool | None] = None
    broker_address: ClassVar[tuple[str, int] | None] = None
    fifo: ClassVar[bool] = True
    timeout: ClassVar[float] = 5.0
    quiet_period: ClassVar[float] = 0.5
    redelivery_timeout: ClassVar[float] = 10.0
    name_prefix: ClassVar[str] = "kit"
    #: What a publish the broker refuses (``x-overflow: reject-publish``) may raise,
    #: on itself or on a later call of its connection (AMQP publisher confirms' nack).
    publish_refused_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    _kit_connections: list[Connection]
    _kit_queues: list[Queue]
    _kit_exchanges: list[Exchange]

    # -- per-test setup and cleanup ---------------------------------------
    @pytest.fixture(autouse=True)
    def _kombu_kit(self) -> Iterator[None]:
        """Track what the test opens and declares; close and delete it afterwards."""
        if not self.url:
            pytest.fail(f"{type(self).__name__} must set the class attribute `url`")
        self._kit_connections = []
        self._kit_queues = []
        self._kit_exchanges = []
        try:
            yield
        finally:
            self._kit_cleanup()

    def _kit_cleanup(self) -> None:
        for conn in reversed(self._kit_connections):
            _quietly(conn.release)
        if not (self._kit_queues or self._kit_exchanges):
            return
        conn = self._new_connection(self.url)
        try:
            entities: list[Queue | Exchange] = [*self._kit_queues, *self._kit_exchanges]
            for entity in entities:
                _quietly(partial(self._delete_entity, conn, entity))
        finally:
            _quietly(conn.release)

    @staticmethod
    def _delete_entity(conn: Connection, entity: Queue | Exchange) -> None:
        channel = conn.channel()
        try:
            entity(channel).delete()
        finally:
            _quietly(channel.close)

    # -- configuration ------------------------------------------------------
    @classmethod
    def kit_capabilities(cls) -> Capabilities:
        """The capability flags under test (explicit, else from the installed plugin)."""
        if cls.capabilities is not None:
            return cls.capabilities
        scheme = cls.url.split("://", 1)[0].split("+", 1)[0]
        from kombu.plugins import transport_info  # the core's plugin registry

        return transport_info(scheme).capabilities

    def kit_broker_address(self) -> tuple[str, int] | None:
        """The broker's ``(host, port)`` for the fault proxy, or ``None`` if not networked."""
        if self.network is False:
            return None
        if self.broker_address is not None:
            return self.broker_address
        host, port = url_address(self.url)
        if not host:
            return None
        if port is None:
            conn = self._new_connection(self.url)
            try:
                port = getattr(conn.transport, "default_port", None)
            finally:
                _quietly(conn.release)
        if port is None:
            return None
        return host, int(port)

    def kit_unmet(self, conditions: Iterator[str] | tuple[str, ...]) -> str | None:
        """Why this transport does not meet ``conditions`` (see :func:`requires`), or ``None``."""
        caps = self.kit_capabilities()
        for condition in conditions:
            negate = condition.startswith("!")
            name = condition.lstrip("!")
            if name == "network":
                met = self.kit_broker_address() is not None
            elif name == "virtual":
                met = self.kit_is_virtual()
            elif name.startswith("exchange:"):
                met = name.partition(":")[2] in caps.exchange_types
            else:
                met = bool(getattr(caps, name))
            if met == negate:
                return f"transport {'declares' if negate else 'does not declare'} {name!r}"
        return None

    def kit_is_virtual(self) -> bool:
        """Whether the transport under test is built on :mod:`kombu.transport.virtual`."""
        from kombu import Connection
        from kombu.transport import virtual

        cls = Connection(self.url, transport_options=dict(self.transport_options)).get_transport_cls()
        return isinstance(cls, type) and issubclass(cls, virtual.Transport)

    def require(self, flag: str) -> None:
        """Skip the test unless the transport declares capability ``flag``."""
        if not getattr(self.kit_capabilities(), flag):
            pytest.skip(f"transport does not declare {flag!r}")

    def require_not(self, flag: str) -> None:
        """Skip the test if the transport declares capability ``flag``."""
        if getattr(self.kit_capabilities(), flag):
            pytest.skip(f"transport declares {flag!r}; its negative check does not apply")

    def require_exchange_type(self, type_: str) -> None:
        """Skip the test unless the transport declares exchange type ``type_``."""
        if type_ not in self.kit_capabilities().exchange_types:
            pytest.skip(f"transport does not declare exchange type {type_!r}")

    # -- connections and entities ---------------------------------------------
    def _new_connection(self, url: str, **kwargs: Any) -> Connection:
        from kombu import Connection

        return Connection(url, transport_options=dict(self.transport_options), **kwargs)

    def connection(self, url: str | None = None, **kwargs: Any) -> Connection:
        """Open a connection (to ``url`` or the class's) that the kit closes after the test."""
        conn = self._new_connection(url or self.url, **kwargs)
        self._kit_connections.append(conn)
        conn.connect()
        return conn

    def name(self, label: str = "q") -> str:
        """A fresh entity name, unique per call, e.g. ``kit.1a2b3c4d.q``."""
        return f"{self.name_prefix}.{uuid4().hex[:10]}.{label}"

    def exchange(self, type_: str = "direct", name: str | None = None, **kwargs: Any) -> Exchange:
        """An unbound :class:`Exchange` with a fresh name, deleted after the test."""
        from kombu import Exchange

        exchange = Exchange(name or self.name(type_), type_, **kwargs)
        self._kit_exchanges.append(exchange)
        return exchange

    def queue(
        self,
        exchange: Exchange | None = None,
        routing_key: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> Queue:
        """An unbound :class:`Queue` with a fresh name, deleted after the test.

        Without ``exchange`` the queue gets its own direct exchange and the
        routing key defaults to the queue's name.
        """
        from kombu import Queue

        qname = name or self.name("q")
        if exchange is None:
            exchange = self.exchange("direct")
        key = qname if routing_key is None else routing_key
        queue = Queue(qname, exchange, key, **kwargs)
        self._kit_queues.append(queue)
        return queue

    def declared_queue(self, conn: Connection, **kwargs: Any) -> Queue:
        """Like :meth:`queue` but declared (with its exchange and binding) on ``conn``."""
        queue = self.queue(**kwargs)
        queue(conn.default_channel).declare()
        return queue

    def publish(self, conn: Connection, queue_or_exchange: Any, body: Any, **kwargs: Any) -> None:
        """Publish ``body`` through the queue's exchange with the queue's routing key.

        ``queue_or_exchange`` is a :class:`Queue` (exchange and routing key
        taken from it) or an :class:`Exchange` (pass ``routing_key=``).
        """
        from kombu import Producer, Queue

        if isinstance(queue_or_exchange, Queue):
            kwargs.setdefault("routing_key", queue_or_exchange.routing_key)
            exchange = queue_or_exchange.exchange
        else:
            exchange = queue_or_exchange
        producer = Producer(conn.default_channel, exchange=exchange)
        producer.publish(body, **kwargs)

    # -- draining -------------------------------------------------------------
    def drain(
        self,
        conn: Connection,
        until: Callable[[], bool],
        timeout: float | None = None,
    ) -> bool:
        """Drain events until ``until()`` is true or ``timeout`` passes; return ``until()``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                conn.drain_events(timeout=min(remaining, 0.25))
            except TimeoutError:
                pass
        return until()

    def collect(self, conn: Connection, recorder: Recorder, count: int, timeout: float | None = None) -> Recorder:
        """Drain until ``recorder`` holds ``count`` messages (bounded by ``timeout``)."""
        self.drain(conn, lambda: len(recorder) >= count, timeout)
        return recorder

    def watch(self, conn: Connection, period: float | None = None) -> None:
        """Keep draining for ``period`` so that stray deliveries become visible."""
        self.drain(conn, lambda: False, self.quiet_period if period is None else period)

    def get_eventually(self, bound: Queue, **kwargs: Any) -> Message | None:
        """``bound.get(**kwargs)`` until a message comes or ``timeout`` passes.

        Some stores make a published message visible to ``get`` a moment
        later; this waits for it instead of failing at once.
        """
        result: list[Message] = []

        def check() -> bool:
            message = bound.get(**kwargs)
            if message is not None:
                result.append(message)
            return bool(result)

        poll(check, self.timeout)
        return result[0] if result else None

    def get_all(self, conn: Connection, queue: Queue, accept: Any = None, limit: int = 1000) -> list[Message]:
        """``Queue.get`` (acking each) until it returns ``None``; the messages in order."""
        bound = queue(conn.default_channel)
        got: list[Message] = []
        while len(got) < limit:
            message = bound.get(no_ack=False, accept=accept)
            if message is None:
                break
            message.ack()
            got.append(message)
        return got


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Call ``check()`` until it returns true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _quietly(fun: Callable[[], Any]) -> None:
    """Call ``fun`` and ignore any error (cleanup must not mask the test's outcome)."""
    try:
        fun()
    except Exception:  # noqa: BLE001 - cleanup is best effort by design
        pass
