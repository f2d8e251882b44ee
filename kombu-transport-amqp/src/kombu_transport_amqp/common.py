"""What the py-amqp and pika transports share: queue arguments, QoS rules, defaults.

Nothing here imports a client library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kombu.utils.options import TRUE_WORDS

__all__ = (
    "DEFAULT_PORT",
    "DEFAULT_SSL_PORT",
    "PRODUCT",
    "as_bool",
    "coerce_options",
    "client_properties",
    "to_rabbitmq_queue_arguments",
    "QueueTypes",
    "version_tuple",
    "qos_semantics_matches_spec",
)

DEFAULT_PORT = 5672
DEFAULT_SSL_PORT = 5671
PRODUCT = "kombu-transport-amqp"


def _ms(seconds: Any) -> int:
    return int(float(seconds) * 1000)


#: Kombu's ``Queue`` options -> (RabbitMQ argument, converter).
RABBITMQ_QUEUE_ARGUMENTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "expires": ("x-expires", _ms),
    "message_ttl": ("x-message-ttl", _ms),
    "max_length": ("x-max-length", int),
    "max_length_bytes": ("x-max-length-bytes", int),
    "max_priority": ("x-max-priority", int),
}


def to_rabbitmq_queue_arguments(arguments: Mapping[str, Any] | None, **options: Any) -> dict[str, Any]:
    """Merge Kombu's queue options into RabbitMQ ``x-`` queue arguments.

    ``expires`` and ``message_ttl`` are seconds (floats allowed) and become
    integer milliseconds; ``max_length``, ``max_length_bytes`` and
    ``max_priority`` become integers. Options that are ``None`` are left
    out; explicit ``arguments`` keep their values unless an option sets the
    same key. Unknown options raise ``TypeError``.
    """
    result = dict(arguments or {})
    for key, value in options.items():
        if value is None:
            continue
        try:
            name, convert = RABBITMQ_QUEUE_ARGUMENTS[key]
        except KeyError:
            raise TypeError(f"unknown queue option {key!r}") from None
        result[name] = convert(value)
    return result


def as_bool(value: Any) -> bool:
    """``"true"``/``"1"``/``"yes"``/``"on"`` (any case) and truthy non-strings are true."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


#: transport option -> converter, for values that arrive as URL query strings.
OPTION_TYPES: dict[str, Callable[[Any], Any]] = {
    "confirm_publish": as_bool,
    "confirm_timeout": float,
    "confirm_window": int,
    "confirm_window_bytes": int,
    "read_timeout": float,
    "write_timeout": float,
    "connect_timeout": float,
    "write_buffer_size": int,
    "frame_max": int,
    "channel_max": int,
    "blocked_connection_timeout": float,
    "socket_timeout": float,
    "stack_timeout": float,
}


def coerce_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Transport options with URL-query strings converted to their types."""
    result = dict(options)
    for key, convert in OPTION_TYPES.items():
        value = result.get(key)
        if isinstance(value, str):
            result[key] = convert(value)
    return result


def client_properties(driver: str, driver_version: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Client properties announced to the broker (shown in the management UI).

    ``product`` names this project, ``information`` the client library used;
    ``extra`` (``transport_options['client_properties']``) wins.
    """
    try:
        from importlib.metadata import version

        ours = version("kombu-transport-amqp")
    except Exception:  # noqa: BLE001 - metadata missing in odd installs
        ours = "unknown"
    props: dict[str, Any] = {
        "product": PRODUCT,
        "product_version": ours,
        "information": f"kombu over {driver} {driver_version}",
    }
    if extra:
        props.update(extra)
    return props


class QueueTypes:
    """Queue types (``x-queue-type``) this connection has declared, by queue name.

    RabbitMQ refuses to consume from a quorum or stream queue on a channel
    whose prefetch is *global* (it closes the connection with 540
    NOT_IMPLEMENTED). The channels use this registry to switch to a
    per-consumer prefetch before consuming from such a queue.
    """

    PER_CONSUMER_ONLY = frozenset({"quorum", "stream"})

    def __init__(self) -> None:
        self._types: dict[str, str] = {}

    def record(self, queue: str, arguments: Mapping[str, Any] | None) -> None:
        """Remember ``queue``'s type from its declare arguments."""
        qtype = (arguments or {}).get("x-queue-type")
        if isinstance(qtype, bytes):
            qtype = qtype.decode()
        if qtype:
            self._types[queue] = str(qtype)
        else:
            self._types.pop(queue, None)

    def forget(self, queue: str) -> None:
        """The queue was deleted."""
        self._types.pop(queue, None)

    def needs_per_consumer_qos(self, queue: str) -> bool:
        """Whether consuming ``queue`` requires a non-global prefetch."""
        return self._types.get(queue) in self.PER_CONSUMER_ONLY


def version_tuple(version: Any) -> tuple[int, ...]:
    """``'3.10.8'`` -> ``(3, 10, 8)``; non-numeric parts stop the tuple."""
    if isinstance(version, bytes):
        version = version.decode()
    parts = []
    for part in str(version or "").split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def qos_semantics_matches_spec(server_properties: Mapping[str, Any]) -> bool:
    """Whether ``basic_qos(global=False)`` means per-channel, as the spec says.

    RabbitMQ 3.3 up to 3.x reinterprets ``global=False`` as per-consumer;
    before 3.3, and from 4.0 (which removed global QoS on classic queues),
    it follows the spec.
    """
    product = server_properties.get("product")
    if isinstance(product, bytes):
        product = product.decode()
    if product != "RabbitMQ":
        return True
    version = version_tuple(server_properties.get("version"))
    if not version:
        return True
    return version < (3, 3) or version >= (4, 0)
