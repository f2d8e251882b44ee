"""Exchange, Queue and binding declarations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kombu.abstract import MaybeChannelBound, Object
from kombu.serialization import prepare_accept_content

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("Exchange", "Queue", "binding", "maybe_delivery_mode", "TRANSIENT_DELIVERY_MODE", "PERSISTENT_DELIVERY_MODE")

TRANSIENT_DELIVERY_MODE = 1
PERSISTENT_DELIVERY_MODE = 2
DELIVERY_MODES = {"transient": TRANSIENT_DELIVERY_MODE, "persistent": PERSISTENT_DELIVERY_MODE}


def maybe_delivery_mode(v: Any, modes: Mapping[str, int] | None = None, default: int = PERSISTENT_DELIVERY_MODE) -> int:
    """Turn ``'transient'``/``'persistent'``/1/2/None into 1 or 2."""
    if v:
        return v if isinstance(v, int) else (modes or DELIVERY_MODES)[v]
    return default


def _reprstr(s: Any) -> str:
    return s if isinstance(s, str) else repr(s)


class Exchange(MaybeChannelBound):
    """An exchange declaration: where producers publish.

    Arguments:
        name: the exchange's name; ``""`` is the default exchange, which
            routes by queue name and is never declared.
        type: ``"direct"``, ``"topic"``, ``"fanout"`` or ``"headers"`` (or
            another type the transport supports).
        channel: bind to this channel (or connection) at once.
        durable: survives a broker restart.
        auto_delete: deleted when no queue is bound to it any more.
        delivery_mode: default delivery mode of messages published to it
            (``"transient"``/1 or ``"persistent"``/2).
        arguments: extra arguments for the broker.
        no_declare: never declare it (it must exist).
        passive: only check that it exists when declaring.
    """

    TRANSIENT_DELIVERY_MODE = TRANSIENT_DELIVERY_MODE
    PERSISTENT_DELIVERY_MODE = PERSISTENT_DELIVERY_MODE

    name = ""
    type = "direct"
    durable = True
    auto_delete = False
    passive = False
    delivery_mode: int | None = None
    no_declare = False
    arguments: dict[str, Any]

    attrs = (
        ("name", None),
        ("type", None),
        ("arguments", None),
        ("durable", bool),
        ("passive", bool),
        ("auto_delete", bool),
        ("delivery_mode", lambda m: DELIVERY_MODES.get(m) or m),
        ("no_declare", bool),
    )

    def __init__(self, name: str = "", type: str = "", channel: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name or self.name
        self.type = type or self.type
        if self.arguments is None:
            self.arguments = {}
        self.maybe_bind(channel)

    def __hash__(self) -> int:
        return hash(f"E|{self.name}")

    @property
    def can_cache_declaration(self) -> bool:  # type: ignore[override]
        return not self.auto_delete

    def declare(self, nowait: bool = False, passive: bool | None = None, channel: Any = None) -> Any:
        """Declare the exchange on the broker (the default exchange never is)."""
        if passive is None:
            passive = self.passive
        if self.name and not self.no_declare:
            return (channel or self.channel).exchange_declare(
                exchange=self.name,
                type=self.type,
                durable=self.durable,
                auto_delete=self.auto_delete,
                arguments=self.arguments,
                nowait=nowait,
                passive=passive,
            )
        return None

    def bind_to(
        self,
        exchange: Exchange | str = "",
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        nowait: bool = False,
        channel: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Bind this exchange to receive from ``exchange`` (exchange-to-exchange)."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).exchange_bind(
            destination=self.name, source=exchange, routing_key=routing_key, nowait=nowait, arguments=arguments
        )

    def unbind_from(
        self,
        source: Exchange | str = "",
        routing_key: str = "",
        nowait: bool = False,
        arguments: dict[str, Any] | None = None,
        channel: Any = None,
    ) -> Any:
        """Remove an exchange-to-exchange binding made with :meth:`bind_to`."""
        if isinstance(source, Exchange):
            source = source.name
        return (channel or self.channel).exchange_unbind(
            destination=self.name, source=source, routing_key=routing_key, nowait=nowait, arguments=arguments
        )

    def Message(
        self,
        body: Any,
        delivery_mode: Any = None,
        properties: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build a transport message for :meth:`publish`."""
        properties = {} if properties is None else properties
        properties["delivery_mode"] = maybe_delivery_mode(delivery_mode or self.delivery_mode)
        return self.channel.prepare_message(body, properties=properties, **kwargs)

    def publish(
        self,
        message: Any,
        routing_key: str | None = None,
        mandatory: bool = False,
        immediate: bool = False,
        exchange: str | None = None,
    ) -> Any:
        """Publish a message built with :meth:`Message` to this exchange."""
        if isinstance(message, str):
            message = self.Message(message)
        return self.channel.basic_publish(
            message,
            exchange=exchange or self.name,
            routing_key=routing_key,
            mandatory=mandatory,
            immediate=immediate,
        )

    def delete(self, if_unused: bool = False, nowait: bool = False) -> Any:
        """Delete the exchange on the broker."""
        return self.channel.exchange_delete(exchange=self.name, if_unused=if_unused, nowait=nowait)

    def binding(
        self,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        unbind_arguments: dict[str, Any] | None = None,
    ) -> binding:
        """Return a :class:`binding` from this exchange."""
        return binding(self, routing_key, arguments, unbind_arguments)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Exchange):
            return (
                self.name == other.name
                and self.type == other.type
                and self.arguments == other.arguments
                and self.durable == other.durable
                and self.auto_delete == other.auto_delete
                and self.delivery_mode == other.delivery_mode
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        return self._repr_entity(str(self))

    def __str__(self) -> str:
        return f"Exchange {_reprstr(self.name) or repr('')}({self.type})"


class binding(Object):
    """A binding of a queue (or exchange) to ``exchange`` with ``routing_key``."""

    attrs = (
        ("exchange", None),
        ("routing_key", None),
        ("arguments", None),
        ("unbind_arguments", None),
    )

    def __init__(
        self,
        exchange: Exchange | None = None,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        unbind_arguments: dict[str, Any] | None = None,
    ) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.arguments = arguments
        self.unbind_arguments = unbind_arguments

    def declare(self, channel: Any, nowait: bool = False) -> None:
        """Declare the binding's exchange (if named)."""
        if self.exchange and self.exchange.name:
            self.exchange.declare(channel=channel, nowait=nowait)

    def bind(self, entity: Any, nowait: bool = False, channel: Any = None) -> None:
        """Bind ``entity`` (a queue or exchange) through this binding."""
        entity.bind_to(
            exchange=self.exchange,
            routing_key=self.routing_key,
            arguments=self.arguments,
            nowait=nowait,
            channel=channel,
        )

    def unbind(self, entity: Any, nowait: bool = False, channel: Any = None) -> None:
        """Remove the binding of ``entity``."""
        entity.unbind_from(
            self.exchange, routing_key=self.routing_key, arguments=self.unbind_arguments, nowait=nowait, channel=channel
        )

    def __repr__(self) -> str:
        return f"<binding: {self}>"

    def __str__(self) -> str:
        name = self.exchange.name if self.exchange is not None else ""
        return f"{_reprstr(name)}->{_reprstr(self.routing_key)}"


class Queue(MaybeChannelBound):
    """A queue declaration: where consumers receive from.

    Arguments:
        name: the queue's name; ``""`` lets the broker choose one.
        exchange: the exchange (or its name) to bind the queue to.
        routing_key: the binding key.
        channel: bind to this channel (or connection) at once.
        bindings: several :class:`binding` instead of one exchange.
        durable, exclusive, auto_delete: as in AMQP; exclusive implies
            auto_delete.
        queue_arguments, binding_arguments, consumer_arguments: extra
            arguments for the broker.
        message_ttl: seconds a message may wait before it is dropped.
        expires: seconds the queue may be unused before it is deleted.
        max_length, max_length_bytes: limits on the queue's depth.
        max_priority: enables priorities up to this number.
        no_ack: consume without acknowledgements.
        on_declared: called with ``(name, messages, consumers)``.
    """

    ContentDisallowed = None
    name = ""
    exchange: Exchange = Exchange("")
    queue_arguments: dict[str, Any] | None = None
    binding_arguments: dict[str, Any] | None = None
    consumer_arguments: dict[str, Any] | None = None
    alias: str | None = None
    no_declare: bool | None = None
    expires: float | None = None
    message_ttl: float | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    max_priority: int | None = None
    routing_key = ""
    durable = True
    exclusive = False
    auto_delete = False
    no_ack = False

    attrs = (
        ("name", None),
        ("exchange", None),
        ("routing_key", None),
        ("queue_arguments", None),
        ("binding_arguments", None),
        ("consumer_arguments", None),
        ("durable", bool),
        ("exclusive", bool),
        ("auto_delete", bool),
        ("no_ack", None),
        ("alias", None),
        ("bindings", list),
        ("no_declare", bool),
        ("expires", float),
        ("message_ttl", float),
        ("max_length", int),
        ("max_length_bytes", int),
        ("max_priority", int),
    )

    def __init__(
        self,
        name: str = "",
        exchange: Exchange | str | None = None,
        routing_key: str = "",
        channel: Any = None,
        bindings: Iterable[binding] | None = None,
        on_declared: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name or self.name
        self.routing_key = routing_key or self.routing_key
        if isinstance(exchange, str):
            self.exchange = Exchange(exchange)
        elif isinstance(exchange, Exchange):
            self.exchange = exchange
        self.bindings = set(bindings or [])
        self.on_declared = on_declared
        if self.bindings and self.exchange is Queue.exchange:
            self.exchange = None  # type: ignore[assignment]
        if self.exclusive:
            self.auto_delete = True
        self.maybe_bind(channel)

    def bind(self, channel: Any) -> Queue:
        on_declared = self.on_declared
        bound = super().bind(channel)
        bound.on_declared = on_declared
        return bound

    def __hash__(self) -> int:
        return hash(f"Q|{self.name}")

    def when_bound(self) -> None:
        if self.exchange:
            self.exchange = self.exchange(self.channel)

    @property
    def can_cache_declaration(self) -> bool:  # type: ignore[override]
        if self.queue_arguments:
            expiring = self.queue_arguments.get("x-expires") is not None
        else:
            expiring = False
        return not expiring and not self.auto_delete and self.expires is None

    def declare(self, nowait: bool = False, channel: Any = None) -> str:
        """Declare the exchange, the queue and its bindings; return the queue name."""
        if not self.no_declare:
            self._create_exchange(nowait=nowait, channel=channel)
            self._create_queue(nowait=nowait, channel=channel)
            self._create_bindings(nowait=nowait, channel=channel)
        return self.name

    def _create_exchange(self, nowait: bool = False, channel: Any = None) -> None:
        if self.exchange:
            self.exchange.declare(nowait=nowait, channel=channel)

    def _create_queue(self, nowait: bool = False, channel: Any = None) -> None:
        self.queue_declare(nowait=nowait, passive=False, channel=channel)
        if self.exchange and self.exchange.name:
            self.queue_bind(nowait=nowait, channel=channel)

    def _create_bindings(self, nowait: bool = False, channel: Any = None) -> None:
        for b in self.bindings:
            channel = channel or self.channel
            b.declare(channel)
            b.bind(self, nowait=nowait, channel=channel)

    def queue_declare(self, nowait: bool = False, passive: bool = False, channel: Any = None) -> Any:
        """Declare the queue alone; return ``(name, message_count, consumer_count)``.

        With ``passive`` only check that the queue exists (a channel error
        when it does not).
        """
        channel = channel or self.channel
        queue_arguments = channel.prepare_queue_arguments(
            self.queue_arguments or {},
            expires=self.expires,
            message_ttl=self.message_ttl,
            max_length=self.max_length,
            max_length_bytes=self.max_length_bytes,
            max_priority=self.max_priority,
        )
        ret = channel.queue_declare(
            queue=self.name,
            passive=passive,
            durable=self.durable,
            exclusive=self.exclusive,
            auto_delete=self.auto_delete,
            arguments=queue_arguments,
            nowait=nowait,
        )
        if not self.name and ret is not None:
            self.name = ret[0]
        if self.on_declared and ret is not None:
            self.on_declared(*ret)
        return ret

    def queue_bind(self, nowait: bool = False, channel: Any = None) -> Any:
        """Bind the queue to its exchange with its routing key."""
        return self.bind_to(self.exchange, self.routing_key, self.binding_arguments, channel=channel, nowait=nowait)

    def bind_to(
        self,
        exchange: Exchange | str = "",
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        nowait: bool = False,
        channel: Any = None,
    ) -> Any:
        """Bind the queue to ``exchange`` with ``routing_key``."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).queue_bind(
            queue=self.name, exchange=exchange, routing_key=routing_key, arguments=arguments, nowait=nowait
        )

    def get(self, no_ack: bool | None = None, accept: Iterable[str] | None = None) -> Any:
        """Fetch one message without consuming (``basic_get``); ``None`` if empty.

        The message must still be acked unless ``no_ack``. A message the
        transport could not read (bad UTF-8 in its properties, a corrupt
        compressed body...) is rejected without requeue and logged
        (:func:`kombu.messaging.reject_undecodable`), then its error is
        raised: the application never holds it, so it must not stay
        unacknowledged and come back.
        """
        no_ack = self.no_ack if no_ack is None else no_ack
        message = self.channel.basic_get(queue=self.name, no_ack=no_ack)
        if message is not None:
            m2p = getattr(self.channel, "message_to_python", None)
            if m2p:
                message = m2p(message)
            if message.errors:
                from kombu.messaging import reject_undecodable

                error = message.errors[0][1]
                reject_undecodable(message, error, queue=self.name)
                raise error
            message.accept = prepare_accept_content(accept)
        return message

    def purge(self, nowait: bool = False) -> int:
        """Remove every ready message; return how many were removed."""
        return self.channel.queue_purge(queue=self.name, nowait=nowait) or 0

    def consume(
        self,
        consumer_tag: str = "",
        callback: Any = None,
        no_ack: bool | None = None,
        nowait: bool = False,
        on_cancel: Any = None,
    ) -> Any:
        """Start a consumer on this queue (``basic_consume``)."""
        if no_ack is None:
            no_ack = self.no_ack
        return self.channel.basic_consume(
            queue=self.name,
            no_ack=no_ack,
            consumer_tag=consumer_tag or "",
            callback=callback,
            nowait=nowait,
            arguments=self.consumer_arguments,
            on_cancel=on_cancel,
        )

    def cancel(self, consumer_tag: str) -> Any:
        """Cancel the consumer ``consumer_tag``."""
        return self.channel.basic_cancel(consumer_tag)

    def delete(self, if_unused: bool = False, if_empty: bool = False, nowait: bool = False) -> Any:
        """Delete the queue and its messages."""
        return self.channel.queue_delete(queue=self.name, if_unused=if_unused, if_empty=if_empty, nowait=nowait)

    def queue_unbind(self, arguments: dict[str, Any] | None = None, nowait: bool = False, channel: Any = None) -> Any:
        """Remove the binding to the queue's own exchange."""
        return self.unbind_from(self.exchange, self.routing_key, arguments, nowait, channel)

    def unbind_from(
        self,
        exchange: Exchange | str = "",
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
        nowait: bool = False,
        channel: Any = None,
    ) -> Any:
        """Remove the binding to ``exchange`` with ``routing_key``."""
        if isinstance(exchange, Exchange):
            exchange = exchange.name
        return (channel or self.channel).queue_unbind(
            queue=self.name, exchange=exchange, routing_key=routing_key, arguments=arguments, nowait=nowait
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Queue):
            return (
                self.name == other.name
                and self.exchange == other.exchange
                and self.routing_key == other.routing_key
                and self.queue_arguments == other.queue_arguments
                and self.binding_arguments == other.binding_arguments
                and self.consumer_arguments == other.consumer_arguments
                and self.durable == other.durable
                and self.exclusive == other.exclusive
                and self.auto_delete == other.auto_delete
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __repr__(self) -> str:
        if self.bindings:
            return self._repr_entity(f"Queue {_reprstr(self.name)} -> {self.bindings!r}")
        return self._repr_entity(f"Queue {_reprstr(self.name)} -> {self.exchange!r} -> {_reprstr(self.routing_key)}")

    @property
    def multi_bind(self) -> bool:
        return bool(self.bindings)

    @classmethod
    def from_dict(cls, queue: str, **options: Any) -> Queue:
        """Build a queue from a Celery-style dict of options."""
        binding_key = options.get("binding_key") or options.get("routing_key")
        e_durable = options.get("exchange_durable")
        if e_durable is None:
            e_durable = options.get("durable")
        e_auto_delete = options.get("exchange_auto_delete")
        if e_auto_delete is None:
            e_auto_delete = options.get("auto_delete")
        q_durable = options.get("queue_durable")
        if q_durable is None:
            q_durable = options.get("durable")
        q_auto_delete = options.get("queue_auto_delete")
        if q_auto_delete is None:
            q_auto_delete = options.get("auto_delete")
        e_arguments = options.get("exchange_arguments")
        q_arguments = options.get("queue_arguments")
        b_arguments = options.get("binding_arguments")
        c_arguments = options.get("consumer_arguments")
        bindings = options.get("bindings")
        exchange = Exchange(
            options.get("exchange"),  # type: ignore[arg-type]
            type=options.get("exchange_type"),  # type: ignore[arg-type]
            delivery_mode=options.get("delivery_mode"),
            routing_key=options.get("routing_key"),
            durable=e_durable,
            auto_delete=e_auto_delete,
            arguments=e_arguments,
        )
        return Queue(
            queue,
            exchange=exchange,
            routing_key=binding_key,  # type: ignore[arg-type]
            durable=q_durable,
            exclusive=options.get("exclusive"),
            auto_delete=q_auto_delete,
            no_ack=options.get("no_ack"),
            queue_arguments=q_arguments,
            binding_arguments=b_arguments,
            consumer_arguments=c_arguments,
            bindings=bindings,
            alias=options.get("alias"),
            expires=options.get("expires"),
            message_ttl=options.get("message_ttl"),
            max_length=options.get("max_length"),
            max_length_bytes=options.get("max_length_bytes"),
            max_priority=options.get("max_priority"),
        )

    def as_dict(self, recurse: bool = False) -> dict[str, Any]:
        res = super().as_dict(recurse)
        if not recurse:
            return res
        if self.bindings:
            res["bindings"] = [b.as_dict(recurse=True) for b in self.bindings]
        return res

    def __copy__(self) -> Queue:
        new = super().__copy__()
        new.bindings = set(self.bindings)
        new.on_declared = self.on_declared
        return new  # type: ignore[no-any-return]
