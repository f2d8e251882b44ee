"""The exceptions Kombu raises, with Kombu 5's names and base classes.

``except`` clauses written for Kombu 5 keep catching: every class here has the
same bases it has there.
"""

from __future__ import annotations

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


__all__ = (
    "reraise",
    "KombuError",
    "OperationalError",
    "BatchPublishError",
    "ResourceError",
    "SerializationError",
    "EncodeError",
    "DecodeError",
    "NotBoundError",
    "MessageStateError",
    "TimeoutError",
    "LimitExceeded",
    "ConnectionLimitExceeded",
    "ChannelLimitExceeded",
    "ConnectionError",
    "ChannelError",
    "VersionMismatch",
    "SerializerNotInstalled",
    "ContentDisallowed",
    "InconsistencyError",
    "HttpError",
    "TransportNotInstalled",
    "CapabilityNotSupported",
)

#: ``socket.timeout`` is this builtin since Python 3.10.
TimeoutError = TimeoutError


def reraise(tp: type[BaseException], value: BaseException, tb: object = None) -> NoReturn:
    """Raise ``value`` (of type ``tp``) with traceback ``tb``."""
    if value.__traceback__ is not tb:
        raise value.with_traceback(tb)  # type: ignore[arg-type]
    raise value


class KombuError(Exception):
    """Common base class for all Kombu exceptions."""


class OperationalError(KombuError):
    """Recoverable message transport connection error."""


class BatchPublishError(KombuError):
    """Publishing a batch of messages failed."""


class SerializationError(KombuError):
    """Failed to serialize or deserialize a message body."""


class EncodeError(SerializationError):
    """Cannot encode an object."""


class DecodeError(SerializationError):
    """Cannot decode an object."""


class NotBoundError(KombuError):
    """An entity was used without being bound to a channel."""


class MessageStateError(KombuError):
    """The message was already acknowledged, rejected or requeued."""


class LimitExceeded(KombuError):
    """A pool or another resource limit was exceeded."""


class ConnectionLimitExceeded(LimitExceeded):
    """The maximum number of pooled connections was exceeded."""


class ChannelLimitExceeded(LimitExceeded):
    """The maximum number of pooled channels was exceeded."""


class ConnectionError(KombuError):
    """A connection-level error."""


class ChannelError(KombuError):
    """A channel-level error."""


class ResourceError(ConnectionError):
    """The broker or the client ran out of a resource (e.g. channel ids)."""


class VersionMismatch(KombuError):
    """A library dependency has an unsupported version."""


class SerializerNotInstalled(KombuError):
    """No serializer is registered for the requested content type or name."""


class ContentDisallowed(SerializerNotInstalled):
    """A consumer received content of a type it does not accept."""


class InconsistencyError(ConnectionError):
    """Data or environment is in an inconsistent state."""


class HttpError(Exception):
    """An HTTP client error, carrying the status ``code`` and ``response``."""

    def __init__(self, code: int, message: str | None = None, response: object = None) -> None:
        self.code = code
        self.message = message
        self.response = response
        super().__init__(code, message, response)

    def __str__(self) -> str:
        return f"HTTP {self.code}: {self.message}"


class TransportNotInstalled(KombuError, ImportError):
    """No installed distribution provides the transport a URL names.

    The message names the distribution to install.
    """


class CapabilityNotSupported(KombuError, NotImplementedError):
    """The transport does not implement the requested capability.

    Raised instead of silently ignoring, e.g. ``priority`` on a transport that
    declares no priority support.
    """
