"""Remote control: a :class:`Mailbox` that sends commands to named :class:`Node` s.

Each node consumes from its own queue ``<hostname>.<namespace>.pidbox``,
bound to the mailbox exchange ``<namespace>.pidbox`` (use ``type="fanout"``
to reach every node and filter by destination, as Celery does). A command
is a message ``{"method", "arguments", "destination", "pattern",
"matcher"}``; a node runs it only if it is a destination (or matches the
pattern, or no destination was given). With a reply ticket, the node
publishes ``{hostname: result}`` to the reply exchange
``reply.<namespace>.pidbox`` with the caller's routing key, and the caller
collects replies on its reply queue, which expires when unused::

    mailbox = Mailbox("control", type="fanout")
    node = mailbox(conn).Node("worker1", handlers={"ping": lambda state: "pong"})
    node.listen()  # then drain events on that connection
    mailbox(other_conn).call(["worker1"], "ping", timeout=1)  # [{"worker1": "pong"}]
"""

from __future__ import annotations

import logging
import socket
import threading
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import copy
from itertools import count
from time import monotonic, time
from typing import Any

from .clocks import LamportClock
from .common import maybe_declare, oid_from
from .entity import Exchange, Queue
from .exceptions import InconsistencyError
from .matcher import match
from .utils.functional import maybe_evaluate, reprcall
from .utils.objects import cached_property
from .utils.uuid import uuid

__all__ = ("Mailbox", "Node")

logger = logging.getLogger(__name__)

REPLY_QUEUE_EXPIRES = 10.0

W_PIDBOX_IN_USE = (
    "A node named {node.hostname} is already using this process mailbox!\n\n"
    "Maybe you forgot to shutdown the other node or did not do so properly?\n"
    "Or if you meant to start multiple nodes on the same host please make sure\n"
    "you give each node a unique node name!\n"
)


def _supports(channel: Any, capability: str) -> bool:
    """Whether the transport behind ``channel`` declares ``capability`` (unknown: assume yes)."""
    capabilities = getattr(getattr(channel, "connection", None), "capabilities", None)
    return capabilities is None or bool(getattr(capabilities, capability, True))


_QUEUE_HINTS = (("expires", "queue_expires"), ("message_ttl", "message_ttl"))
_hints_dropped: set[tuple[str, str]] = set()


def _queue_for(queue: Queue, channel: Any) -> Queue:
    """``queue`` as declared on ``channel``: without expiry/TTL the transport lacks.

    Mailbox queues use expiry and TTL only to clean up after nodes and callers
    that went away (Celery sets both). Where the transport has no such
    capability they are left out (logged once per transport and setting), so
    remote control works on every transport, as it does on Kombu 5's virtual
    transports, which ignore them.
    """
    dropped = [
        attr
        for attr, capability in _QUEUE_HINTS
        if getattr(queue, attr, None) is not None and not _supports(channel, capability)
    ]
    if not dropped:
        return queue
    adapted = copy(queue)
    for attr in dropped:
        setattr(adapted, attr, None)
        key = (type(channel.connection).__module__, attr)
        if key not in _hints_dropped:
            _hints_dropped.add(key)
            logger.info("pidbox: %s does not support %s; mailbox queues are declared without it", key[0], attr)
    return adapted


class Node:
    """A mailbox node: consumes the commands addressed to ``hostname`` and runs its handlers.

    ``handlers`` maps command names to ``handler(state, **arguments)``;
    the return value is the reply.
    """

    #: The node's name (the destination commands are addressed to).
    hostname: str = None  # type: ignore[assignment]
    #: The :class:`Mailbox` this node belongs to.
    mailbox: Mailbox = None  # type: ignore[assignment]
    #: Command name -> handler.
    handlers: dict[str, Callable[..., Any]] = None  # type: ignore[assignment]
    #: Passed as first argument to every handler.
    state: Any = None
    #: The channel the node consumes and replies on.
    channel: Any = None

    def __init__(
        self,
        hostname: str,
        state: Any = None,
        channel: Any = None,
        handlers: dict[str, Callable[..., Any]] | None = None,
        mailbox: Mailbox | None = None,
    ) -> None:
        self.channel = channel
        self.mailbox = mailbox  # type: ignore[assignment]
        self.hostname = hostname
        self.state = state
        self.adjust_clock = self.mailbox.clock.adjust
        self.handlers = {} if handlers is None else handlers

    def Consumer(self, channel: Any = None, no_ack: bool = True, accept: Any = None, **options: Any) -> Any:
        """Return a consumer of this node's queue (not yet consuming)."""
        from .messaging import Consumer

        channel = channel or self.channel
        queue = _queue_for(self.mailbox.get_queue(self.hostname), channel)

        def verify_exclusive(name: str, messages: int, consumers: int) -> None:
            if consumers:
                warnings.warn(W_PIDBOX_IN_USE.format(node=self), stacklevel=2)

        queue.on_declared = verify_exclusive
        return Consumer(
            channel,
            [queue],
            no_ack=no_ack,
            accept=self.mailbox.accept if accept is None else accept,
            **options,
        )

    def handler(self, fun: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: register ``fun`` as the handler of the command named after it."""
        self.handlers[fun.__name__] = fun
        return fun

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """Log a command that could not be decoded."""
        logger.error("Cannot decode message: %r", exc, exc_info=exc)

    def listen(self, channel: Any = None, callback: Callable[..., Any] | None = None) -> Any:
        """Start consuming commands (handled by ``callback`` or :meth:`handle_message`); return the consumer."""
        consumer = self.Consumer(
            channel=channel,
            callbacks=[callback or self.handle_message],
            on_decode_error=self.on_decode_error,
        )
        consumer.consume()
        return consumer

    def dispatch(
        self,
        method: str,
        arguments: dict[str, Any] | None = None,
        reply_to: dict[str, str] | None = None,
        ticket: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run command ``method``; if ``reply_to`` is given, send ``{hostname: result}`` there.

        An exception in the handler becomes the reply ``{"error": repr(exc)}``.
        """
        arguments = arguments or {}
        logger.debug(
            "pidbox received method %s [reply_to:%s ticket:%s]",
            reprcall(method, (), kwargs=arguments),
            reply_to,
            ticket,
        )
        handle = self.handle_call if reply_to else self.handle_cast
        try:
            reply = handle(method, arguments)
        except SystemExit:
            raise
        except Exception as exc:
            logger.exception("pidbox command error")
            reply = {"error": repr(exc)}
        if reply_to:
            self.reply(
                {self.hostname: reply},
                exchange=reply_to["exchange"],
                routing_key=reply_to["routing_key"],
                ticket=ticket,
            )
        return reply

    def handle(self, method: str, arguments: dict[str, Any] | None = None) -> Any:
        """Call the handler of ``method`` with the node state and ``arguments``."""
        return self.handlers[method](self.state, **(arguments or {}))

    def handle_call(self, method: str, arguments: dict[str, Any]) -> Any:
        """Run a command whose result is replied."""
        return self.handle(method, arguments)

    def handle_cast(self, method: str, arguments: dict[str, Any]) -> Any:
        """Run a command nobody waits for."""
        return self.handle(method, arguments)

    def handle_message(self, body: dict[str, Any], message: Any = None) -> Any:
        """Run the command in ``body`` if this node is among its destinations."""
        destination = body.get("destination")
        pattern = body.get("pattern")
        matcher = body.get("matcher")
        if message is not None:
            self.adjust_clock((message.headers or {}).get("clock") or 0)
        if destination:
            run = self.hostname in destination
        elif pattern and matcher:
            run = match(self.hostname, pattern, matcher)
        else:
            run = True
        if run:
            return self.dispatch(**body)
        return None

    dispatch_from_message = handle_message

    def reply(self, data: Any, exchange: str, routing_key: str, ticket: str | None, **kwargs: Any) -> None:
        """Publish reply ``data`` to ``exchange`` with ``routing_key`` and the request's ``ticket``."""
        self.mailbox._publish_reply(
            data, exchange, routing_key, ticket, channel=self.channel, serializer=self.mailbox.serializer, **kwargs
        )


class Mailbox:
    """A broadcast/RPC mailbox named ``namespace``; bind it to a connection by calling it.

    ``type`` is the exchange type commands go through (``"direct"`` or
    ``"fanout"``). Replies are read with ``accept`` (default json) and
    written with ``serializer``. ``queue_ttl``/``queue_expires`` apply to
    node queues, ``reply_queue_ttl``/``reply_queue_expires`` to reply
    queues (in seconds); on a transport without message TTL or queue expiry
    they are left out (see :func:`_queue_for`).
    """

    node_cls = Node
    exchange_fmt = "%s.pidbox"
    reply_exchange_fmt = "reply.%s.pidbox"

    #: The name of the mailbox.
    namespace: str = None  # type: ignore[assignment]
    #: The connection it is bound to.
    connection: Any = None
    #: The exchange type of command messages.
    type = "direct"
    #: The command exchange.
    exchange: Exchange = None  # type: ignore[assignment]
    #: The reply exchange.
    reply_exchange: Exchange = None  # type: ignore[assignment]
    #: Content types accepted for replies.
    accept: Any = ["json"]  # noqa: RUF012 - replaced per instance
    #: Serializer of commands and replies (``None``: the producer's default).
    serializer: str | None = None

    _tls = threading.local()

    def __init__(
        self,
        namespace: str,
        type: str = "direct",
        connection: Any = None,
        clock: LamportClock | None = None,
        accept: Any = None,
        serializer: str | None = None,
        producer_pool: Any = None,
        queue_ttl: float | None = None,
        queue_expires: float | None = None,
        queue_durable: bool = False,
        queue_exclusive: bool = True,
        reply_queue_ttl: float | None = None,
        reply_queue_expires: float | None = REPLY_QUEUE_EXPIRES,
    ) -> None:
        self.namespace = namespace
        self.connection = connection
        self.type = type
        self.clock = LamportClock() if clock is None else clock
        self.exchange = self._get_exchange(self.namespace, self.type)
        self.reply_exchange = self._get_reply_exchange(self.namespace)
        self.unclaimed: defaultdict[str, deque[Any]] = defaultdict(deque)
        self.accept = self.accept if accept is None else accept
        self.serializer = self.serializer if serializer is None else serializer
        self.queue_ttl = queue_ttl
        self.queue_expires = queue_expires
        self.queue_durable = queue_durable
        self.queue_exclusive = queue_exclusive
        self.reply_queue_ttl = reply_queue_ttl
        self.reply_queue_expires = reply_queue_expires
        self._producer_pool = producer_pool

    def __call__(self, connection: Any) -> Mailbox:
        """Return a copy of this mailbox bound to ``connection``."""
        bound = copy(self)
        bound.connection = connection
        return bound

    def Node(
        self,
        hostname: str | None = None,
        state: Any = None,
        channel: Any = None,
        handlers: dict[str, Callable[..., Any]] | None = None,
    ) -> Node:
        """Return a node of this mailbox named ``hostname`` (default: this host's name)."""
        hostname = hostname or socket.gethostname()
        return self.node_cls(hostname, state, channel, handlers, mailbox=self)

    def call(
        self,
        destination: list[str] | tuple[str, ...],
        command: str,
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
        callback: Callable[[Any], Any] | None = None,
        channel: Any = None,
    ) -> list[Any] | None:
        """Send ``command`` to the nodes in ``destination`` and return their replies.

        Waits until every destination replied or ``timeout`` seconds passed.
        Each reply is ``{hostname: result}``; ``callback(reply)`` is called
        as each arrives.
        """
        return self._broadcast(
            command, kwargs, destination, reply=True, timeout=timeout, callback=callback, channel=channel
        )

    def cast(
        self, destination: list[str] | tuple[str, ...], command: str, kwargs: dict[str, Any] | None = None
    ) -> None:
        """Send ``command`` to the nodes in ``destination`` without waiting for replies."""
        self._broadcast(command, kwargs, destination, reply=False)

    def abcast(self, command: str, kwargs: dict[str, Any] | None = None) -> None:
        """Send ``command`` to every node without waiting for replies."""
        self._broadcast(command, kwargs, reply=False)

    def multi_call(
        self,
        command: str,
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = 1,
        limit: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        channel: Any = None,
    ) -> list[Any] | None:
        """Send ``command`` to every node; collect replies for ``timeout`` seconds or until ``limit`` arrived."""
        return self._broadcast(
            command, kwargs, reply=True, timeout=timeout, limit=limit, callback=callback, channel=channel
        )

    def get_reply_queue(self) -> Queue:
        """Return the queue this process's replies arrive on (named after :attr:`oid`)."""
        oid = self.oid
        return Queue(
            f"{oid}.{self.reply_exchange.name}",
            exchange=self.reply_exchange,
            routing_key=oid,
            durable=False,
            auto_delete=True,
            expires=self.reply_queue_expires,
            message_ttl=self.reply_queue_ttl,
        )

    @cached_property
    def reply_queue(self) -> Queue:
        """The reply queue (see :meth:`get_reply_queue`)."""
        return self.get_reply_queue()

    def get_queue(self, hostname: str) -> Queue:
        """Return the command queue of node ``hostname``."""
        return Queue(
            f"{hostname}.{self.namespace}.pidbox",
            exchange=self.exchange,
            durable=self.queue_durable,
            auto_delete=not self.queue_durable,
            exclusive=self.queue_exclusive,
            expires=self.queue_expires,
            message_ttl=self.queue_ttl,
        )

    @contextmanager
    def producer_or_acquire(self, producer: Any = None, channel: Any = None) -> Iterator[Any]:
        """Context giving ``producer``, or one from the producer pool, or a new one on ``channel``."""
        if producer:
            yield producer
        elif self.producer_pool:
            with self.producer_pool.acquire() as pooled:
                yield pooled
        else:
            from .messaging import Producer

            yield Producer(channel, auto_declare=False)

    def _publish_reply(
        self,
        reply: Any,
        exchange: str,
        routing_key: str,
        ticket: str | None,
        channel: Any = None,
        producer: Any = None,
        **opts: Any,
    ) -> None:
        chan = channel or self.connection.default_channel
        reply_exchange = Exchange(exchange, type="direct", delivery_mode="transient", durable=False)
        with self.producer_or_acquire(producer, chan) as publisher:
            try:
                publisher.publish(
                    reply,
                    exchange=reply_exchange,
                    routing_key=routing_key,
                    declare=[reply_exchange],
                    headers={"ticket": ticket, "clock": self.clock.forward()},
                    retry=True,
                    **opts,
                )
            except InconsistencyError:
                # The reply queue is gone: nobody waits for this reply any more.
                pass

    def _publish(
        self,
        type: str,
        arguments: dict[str, Any],
        destination: Any = None,
        reply_ticket: str | None = None,
        channel: Any = None,
        timeout: float | None = None,
        serializer: str | None = None,
        producer: Any = None,
        pattern: str | None = None,
        matcher: str | None = None,
    ) -> None:
        message: dict[str, Any] = {
            "method": type,
            "arguments": arguments,
            "destination": destination,
            "pattern": pattern,
            "matcher": matcher,
        }
        chan = channel or self.connection.default_channel
        if reply_ticket:
            maybe_declare(_queue_for(self.reply_queue, chan)(chan))
            message.update(
                ticket=reply_ticket, reply_to={"exchange": self.reply_exchange.name, "routing_key": self.oid}
            )
        serializer = serializer or self.serializer
        with self.producer_or_acquire(producer, chan) as publisher:
            publisher.publish(
                message,
                exchange=self.exchange.name,
                declare=[self.exchange],
                headers={"clock": self.clock.forward(), "expires": time() + timeout if timeout else 0},
                serializer=serializer,
                retry=True,
            )

    def _broadcast(
        self,
        command: str,
        arguments: dict[str, Any] | None = None,
        destination: Any = None,
        reply: bool = False,
        timeout: float | None = 1,
        limit: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        channel: Any = None,
        serializer: str | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
    ) -> list[Any] | None:
        """Publish ``command``; with ``reply``, collect and return the replies.

        ``destination`` (a list or tuple of node names) limits who runs it and,
        unless ``limit`` is given, how many replies to wait for. ``pattern``
        with ``matcher`` (``"glob"`` or ``"pcre"``) selects nodes by name instead.
        """
        if destination is not None and not isinstance(destination, (list, tuple)):
            raise ValueError(f"destination must be a list/tuple not {type(destination)}")
        if (pattern is not None and not isinstance(pattern, str)) or (
            matcher is not None and not isinstance(matcher, str)
        ):
            raise ValueError(f"pattern and matcher must be strings, not {type(pattern)} and {type(matcher)}")
        arguments = arguments or {}
        reply_ticket = uuid() if reply else None
        chan = channel or self.connection.default_channel
        if limit is None and destination:
            limit = len(destination)
        serializer = serializer or self.serializer
        self._publish(
            command,
            arguments,
            destination=destination,
            reply_ticket=reply_ticket,
            channel=chan,
            timeout=timeout,
            serializer=serializer,
            pattern=pattern,
            matcher=matcher,
        )
        if reply_ticket:
            return self._collect(reply_ticket, limit=limit, timeout=timeout, callback=callback, channel=chan)
        return None

    def _collect(
        self,
        ticket: str,
        limit: int | None = None,
        timeout: float | None = 1,
        callback: Callable[[Any], Any] | None = None,
        channel: Any = None,
        accept: Any = None,
    ) -> list[Any]:
        """Return the replies to ``ticket``: up to ``limit`` of them, waiting at most ``timeout`` seconds.

        Replies to other tickets that arrive meanwhile are kept for their own
        collector (:attr:`unclaimed`); expired replies are dropped.
        """
        from .messaging import Consumer

        if accept is None:
            accept = self.accept
        chan = channel or self.connection.default_channel
        queue = _queue_for(self.reply_queue, chan)
        responses: list[Any] = list(self.unclaimed.pop(ticket, ()))
        if limit and len(responses) >= limit:
            return responses
        adjust_clock = self.clock.adjust

        def on_message(body: Any, message: Any) -> None:
            headers = message.headers or {}
            adjust_clock(headers.get("clock") or 0)
            expires = headers.get("expires")
            if expires and time() > expires:
                return
            this_ticket = headers.get("ticket", ticket)
            if this_ticket == ticket:
                if callback:
                    callback(body)
                responses.append(body)
            else:
                self.unclaimed[this_ticket].append(body)

        consumer = Consumer(chan, [queue], accept=accept, no_ack=True)
        consumer.register_callback(on_message)
        deadline = monotonic() + timeout if timeout is not None else None
        try:
            with consumer:
                for _ in count():
                    if limit and len(responses) >= limit:
                        break
                    remaining = None if deadline is None else deadline - monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    try:
                        self.connection.drain_events(timeout=remaining)
                    except TimeoutError:
                        break
            return responses
        finally:
            after = getattr(chan, "after_reply_message_received", None)
            if after is not None:
                after(queue.name)

    def _get_exchange(self, namespace: str, type: str) -> Exchange:
        return Exchange(self.exchange_fmt % namespace, type=type, durable=False, delivery_mode="transient")

    def _get_reply_exchange(self, namespace: str) -> Exchange:
        return Exchange(self.reply_exchange_fmt % namespace, type="direct", durable=False, delivery_mode="transient")

    @property
    def oid(self) -> str:
        """An id for this mailbox, unique per thread: the routing key of its replies."""
        try:
            oid: str = self._tls.OID
            return oid
        except AttributeError:
            oid = self._tls.OID = oid_from(self)
            return oid

    def _evaluate_producer_pool(self) -> Any:
        """The producer pool given at creation (evaluated if lazy), or ``None``.

        ``del mailbox.producer_pool`` forgets the evaluated pool (Celery does
        it after a fork), even when it was never evaluated; the next read
        evaluates it again.
        """
        return maybe_evaluate(self._producer_pool)

    def _forget_producer_pool(self, value: Any) -> None:
        # Nothing to release: the pool belongs to whoever passed it in.
        pass

    producer_pool = cached_property(_evaluate_producer_pool, fdel=_forget_producer_pool)
