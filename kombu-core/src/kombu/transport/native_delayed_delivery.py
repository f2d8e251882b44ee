"""Delayed delivery on RabbitMQ without a plugin (Kombu 5.5+'s layout, for Celery).

A delay of ``n`` seconds (``1 <= n < 2**28``) is written as its 28 binary
digits in front of the routing key: ``"0.0. ... .1.0.1.tasks"``. Twenty-eight
topic exchanges, ``celery_delayed_27`` down to ``celery_delayed_0``, each
look at one digit (level ``L`` at position ``27 - L``, worth ``2**L``
seconds):

- a ``1`` routes the message into the queue of the same name, whose
  ``x-message-ttl`` is ``2**L`` seconds and whose dead-letter exchange is the
  next level down, so the message waits there and then moves on;
- a ``0`` routes it straight to the next level's exchange
  (exchange-to-exchange binding).

After level 0 the message reaches the topic exchange
``celery_delayed_delivery``, which every application exchange is bound to
with ``#.<routing key>``; the application's queue is bound to its exchange
with that key too, so the delayed message lands where an undelayed one
would. Publishers send to ``celery_delayed_27`` with
:func:`calculate_routing_key`.

The names, queue arguments and routing keys are exactly Kombu 5.7's, so
workers on Kombu and on this project share one tree on one broker. Only
brokers that dead-letter expired messages (RabbitMQ: ``amqp://``,
``pika://``) can run it; the declarations are plain AMQP, nothing here is
transport-specific. A ``prefix`` gives a second, separate tree
(``<prefix>_celery_delayed_<level>``).
"""

from __future__ import annotations

import re
from typing import Any

from kombu.entity import Exchange, Queue, binding
from kombu.log import get_logger

__all__ = (
    "MAX_NUMBER_OF_BITS_TO_USE",
    "MAX_LEVEL",
    "CELERY_DELAYED_DELIVERY_EXCHANGE",
    "level_name",
    "calculate_routing_key",
    "declare_native_delayed_delivery_exchanges_and_queues",
    "bind_queue_to_native_delayed_delivery_exchange",
)

logger = get_logger(__name__)

#: Digits of the delay in the routing key: delays up to ``2**28 - 1`` seconds (about 8.5 years).
MAX_NUMBER_OF_BITS_TO_USE = 28
#: The highest level; publishers send to ``level_name(MAX_LEVEL)``.
MAX_LEVEL = MAX_NUMBER_OF_BITS_TO_USE - 1
#: The exchange a message reaches when its delay is over.
CELERY_DELAYED_DELIVERY_EXCHANGE = "celery_delayed_delivery"

QUEUE_TYPES = ("classic", "quorum")

# A routing key that already starts with 28 delay digits (a retried task keeps the key of its
# delayed delivery): the digits are replaced, never stacked, so the key stays under 255 bytes.
_DELAY_DIGITS = re.compile(rf"^(?:[01]\.){{{MAX_NUMBER_OF_BITS_TO_USE}}}")


def level_name(level: int, prefix: str | None = None) -> str:
    """Name of the exchange and queue of ``level`` (``celery_delayed_<level>``).

    Raises :class:`ValueError` for a negative level.
    """
    if level < 0:
        raise ValueError(f"level must be a non-negative number, not {level!r}")
    name = f"celery_delayed_{level}"
    return f"{prefix}_{name}" if prefix else name


def delivery_exchange_name(prefix: str | None = None) -> str:
    """Name of the exchange a message reaches when its delay is over."""
    return f"{prefix}_{CELERY_DELAYED_DELIVERY_EXCHANGE}" if prefix else CELERY_DELAYED_DELIVERY_EXCHANGE


def calculate_routing_key(countdown: int, routing_key: str) -> str:
    """Routing key that delays a message published to ``celery_delayed_27`` by ``countdown`` seconds.

    Raises :class:`ValueError` when ``countdown`` is below 1 or ``routing_key``
    is empty. Delay digits already in front of ``routing_key`` are replaced.
    """
    if countdown < 1:
        raise ValueError(f"countdown must be a positive number, not {countdown!r}")
    if not routing_key:
        raise ValueError("routing_key must be non-empty")
    digits = format(countdown, f"0{MAX_NUMBER_OF_BITS_TO_USE}b")
    return ".".join(digits) + "." + _DELAY_DIGITS.sub("", routing_key, count=1)


def _digit_pattern(level: int, digit: str) -> str:
    """Topic pattern matching keys whose digit for ``level`` is ``digit``."""
    return "*." * (MAX_LEVEL - level) + f"{digit}.#"


def _level_queue_arguments(level: int, queue_type: str, prefix: str | None) -> dict[str, Any]:
    dead_letter = level_name(level - 1, prefix) if level > 0 else delivery_exchange_name(prefix)
    arguments: dict[str, Any] = {
        "x-queue-type": queue_type,
        "x-overflow": "reject-publish",
        "x-message-ttl": (2**level) * 1000,
        "x-dead-letter-exchange": dead_letter,
    }
    if queue_type == "quorum":
        arguments["x-dead-letter-strategy"] = "at-least-once"
    return arguments


def declare_native_delayed_delivery_exchanges_and_queues(
    connection: Any, queue_type: str, prefix: str | None = None
) -> None:
    """Declare the whole delay tree on ``connection`` (idempotent).

    ``queue_type`` is ``"classic"`` or ``"quorum"`` (anything else is a
    :class:`ValueError`, raised before anything is declared); quorum queues
    dead-letter at-least-once. Declaring over a tree made with another
    queue type fails on the broker (``PRECONDITION_FAILED``), as in Kombu.
    """
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"queue_type must be either classic or quorum, not {queue_type!r}")
    channel = connection.channel()
    try:
        for level in range(MAX_LEVEL, -1, -1):
            name = level_name(level, prefix)
            Exchange(name, type="topic").bind(channel).declare()
            queue = Queue(name, queue_arguments=_level_queue_arguments(level, queue_type, prefix))
            queue.bind(channel).declare()
            queue.bind(channel).bind_to(name, _digit_pattern(level, "1"))
        for level in range(MAX_LEVEL, 0, -1):
            lower = Exchange(level_name(level - 1, prefix), type="topic").bind(channel)
            lower.bind_to(level_name(level, prefix), _digit_pattern(level, "0"))
        delivery = Exchange(delivery_exchange_name(prefix), type="topic").bind(channel)
        delivery.declare()
        delivery.bind_to(level_name(0, prefix), _digit_pattern(0, "0"))
    finally:
        _close_quietly(channel)


def bind_queue_to_native_delayed_delivery_exchange(connection: Any, queue: Queue, prefix: str | None = None) -> None:
    """Let delayed messages for ``queue`` reach it when their delay is over.

    Each exchange ``queue`` is bound to is bound to the delivery exchange
    with ``#.<routing key>``, and ``queue`` to that exchange with the same
    key. A direct exchange cannot match the delay digits: it is skipped with
    a warning (Celery then holds such ETA tasks in the worker).
    """
    channel = connection.channel()
    try:
        bound = queue.bind(channel)
        if bound.exchange:
            bindings = {binding(bound.exchange, routing_key=bound.routing_key, arguments=bound.binding_arguments)}
        else:
            bindings = set(bound.bindings or ())
        for entry in bindings:
            if entry.exchange is None:
                continue
            exchange = entry.exchange.bind(channel)
            if exchange.type == "direct":
                logger.warning(
                    "Exchange %s is a direct exchange: native delayed delivery cannot route to it; "
                    "ETA tasks published to it wait in the worker until they are due.",
                    exchange.name,
                )
                continue
            key = entry.routing_key or ""
            if not key.startswith("#"):
                key = f"#.{key}"
            exchange.bind_to(delivery_exchange_name(prefix), routing_key=key)
            bound.bind_to(exchange.name, routing_key=key)
    finally:
        _close_quietly(channel)


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception as exc:  # noqa: BLE001  # any transport's error: a dead connection's channels are gone anyway
        logger.debug("closing the delayed-delivery channel failed: %r", exc)
