"""The message a consumer receives."""

from __future__ import annotations

import sys

from kombu.compression import decompress
from kombu.exceptions import MessageStateError
from kombu.serialization import loads

# `typing` costs more to import than the rest of `import kombu`; annotations only need it for checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

__all__ = ("Message",)

ACK_STATES = frozenset({"ACK", "REJECTED", "RECEIVED_NOT_ACKED", "REQUEUED"})


class Message:
    """A received message: its body, properties and delivery information.

    A message is acknowledged at most once: :meth:`ack`, :meth:`reject` and
    :meth:`requeue` raise :class:`~kombu.exceptions.MessageStateError` when
    it was already acknowledged, rejected or requeued. Nothing is acked to
    the broker until the application calls :meth:`ack`.
    """

    MessageStateError = MessageStateError

    errors: list[Any] | None = None

    def __init__(
        self,
        body: bytes | str | None = None,
        delivery_tag: Any = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        delivery_info: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        postencode: str | None = None,
        accept: set[str] | None = None,
        channel: Any = None,
        **kwargs: Any,
    ) -> None:
        self.channel = channel
        self.delivery_tag = delivery_tag
        self.content_type = content_type
        self.content_encoding = content_encoding
        self.delivery_info = delivery_info if delivery_info is not None else {}
        self.headers = headers if headers is not None else {}
        self.properties = properties if properties is not None else {}
        self.accept = accept
        self.body = body
        self._decoded_cache: Any = None
        self._decoded = False
        self._state = "RECEIVED"
        self.errors = []
        compression = self.headers.get("compression")
        if compression and body is not None:
            try:
                self.body = decompress(body, compression)
            except Exception:  # noqa: BLE001 - kept and raised by decode()
                self.errors.append(sys.exc_info())
        if postencode and isinstance(self.body, str):
            self.body = self.body.encode(postencode)

    @property
    def acknowledged(self) -> bool:
        """Whether the message was acked, rejected or requeued."""
        return self._state in ACK_STATES

    def _check_state(self, action: str) -> None:
        if self.channel is None:
            raise self.MessageStateError(f"This message has no channel: cannot {action} it.")
        if self.acknowledged:
            raise self.MessageStateError(f"Message already acknowledged with state: {self._state}")

    def ack(self, multiple: bool = False) -> None:
        """Acknowledge the message; the broker forgets it."""
        self._check_state("ack")
        if self.channel.no_ack_consumers is not None:
            consumer_tag = self.delivery_info.get("consumer_tag")
            if consumer_tag and consumer_tag in self.channel.no_ack_consumers:
                self._state = "ACK"
                return
        self.channel.basic_ack(self.delivery_tag, multiple=multiple)
        self._state = "ACK"

    def ack_log_error(
        self, logger: logging.Logger, errors: tuple[type[BaseException], ...], multiple: bool = False
    ) -> None:
        """Ack, logging instead of raising the ``errors`` given."""
        try:
            self.ack(multiple=multiple)
        except BrokenPipeError:
            logger.critical("Couldn't ack %r, reason: broken pipe", self.delivery_tag, exc_info=True)
        except errors as exc:
            logger.critical("Couldn't ack %r, reason: %r", self.delivery_tag, exc, exc_info=True)

    def reject_log_error(
        self, logger: logging.Logger, errors: tuple[type[BaseException], ...], requeue: bool = False
    ) -> None:
        """Reject, logging instead of raising the ``errors`` given."""
        try:
            self.reject(requeue=requeue)
        except errors as exc:
            logger.critical("Couldn't reject %r, reason: %r", self.delivery_tag, exc, exc_info=True)

    def reject(self, requeue: bool = False) -> None:
        """Reject the message; with ``requeue`` the broker delivers it again."""
        self._check_state("reject")
        self.channel.basic_reject(self.delivery_tag, requeue=requeue)
        self._state = "REJECTED"

    def requeue(self) -> None:
        """Reject the message and put it back on its queue."""
        self._check_state("requeue")
        self.channel.basic_reject(self.delivery_tag, requeue=True)
        self._state = "REQUEUED"

    def decode(self) -> Any:
        """Return the deserialized body (cached after the first call).

        Raises :class:`~kombu.exceptions.ContentDisallowed` for content not
        accepted and :class:`~kombu.exceptions.DecodeError` for a corrupt body.
        """
        if not self._decoded:
            if self.errors:
                _, exc, _ = self.errors[0]
                raise exc
            self._decoded_cache = self._decode()
            self._decoded = True
        return self._decoded_cache

    def _decode(self) -> Any:
        return loads(self.body, self.content_type, self.content_encoding, accept=self.accept)

    @property
    def payload(self) -> Any:
        """The decoded body."""
        return self.decode()

    def _reraise_error(self, callback: Any = None) -> None:
        try:
            _, exc, _ = self.errors[0]  # type: ignore[index]
            raise exc
        except Exception as exc:
            if not callback:
                raise
            callback(self, exc)

    def __repr__(self) -> str:
        return "<{} object at {:#x} with details {!r}>".format(
            type(self).__name__,
            id(self),
            {
                "state": self._state,
                "content_type": self.content_type,
                "delivery_tag": self.delivery_tag,
                "body_length": len(self.body) if self.body is not None else None,
                "properties": {k: v for k, v in self.properties.items() if k in ("correlation_id", "message_id")},
                "delivery_info": {k: v for k, v in self.delivery_info.items() if k in ("exchange", "routing_key")},
            },
        )
