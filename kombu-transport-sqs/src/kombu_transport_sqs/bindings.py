"""Bindings stored on the server, so that every process routes the same.

SQS has no place for routing tables, so each exchange that gets a binding
has a *table queue* (never holding messages) named
``<prefix>kombu-bindings-<exchange>`` whose queue tags are the exchange's
type and bindings: tag ``type`` is the exchange type, each tag ``b.<hash>``
a JSON ``[routing_key, pattern, queue]``. A process publishing to an
exchange reads the table (``ListQueueTags``) at most every
``binding_refresh_interval`` seconds (default 1) and merges it with the
bindings it made itself, which count at once.

Limits (SQS's tag limits): at most 49 bindings per exchange, and a binding
whose JSON is longer than 256 characters is kept in this process only; both
are logged. Fanout exchanges with ``supports_fanout`` use SNS subscriptions
instead (:mod:`.fanout`).

:class:`BindingStore` is the table queues' side (one per connection);
:class:`StoredBindings` the channel's: a bind or unbind is written to the
table, a queue deleted drops its stored bindings, and routing reads the
bindings of this process merged with the stored ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from botocore import exceptions as boto_exc
from kombu.transport import virtual
from kombu.transport.virtual.state import binding_key_t

from .naming import MAX_NAME_LENGTH

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("BindingStore", "StoredBindings", "TABLE_PREFIX")

logger = logging.getLogger(__name__)

TABLE_PREFIX = "kombu-bindings."
_MAX_TAG_VALUE = 256
_MAX_TAGS = 50
_TYPE_TAG = "type"

Binding = tuple[str, Any, str]


def _tag_key(binding: Binding) -> str:
    digest = hashlib.sha1(json.dumps(list(binding), sort_keys=True, default=str).encode())
    return "b." + digest.hexdigest()[:40]


class BindingStore:
    """The exchanges' type and binding tables, as tags of one queue per exchange."""

    def __init__(self, transport: Transport, refresh_interval: float = 1.0) -> None:
        self.transport = transport
        self.refresh_interval = refresh_interval
        self._cache: dict[str, tuple[str | None, list[Binding], float]] = {}
        self._lock = threading.Lock()

    def _table_queue(self, exchange: str) -> str:
        return TABLE_PREFIX + exchange

    def _url(self, exchange: str, create: bool) -> str | None:
        """The table queue's URL (``None``: there is none, or the name is too long for SQS)."""
        from kombu.exceptions import ChannelError

        table = self._table_queue(exchange)
        if len(self.transport.sqs_name(table)) > MAX_NAME_LENGTH:
            if create:
                logger.warning(
                    "sqs: exchange %r: its binding table's SQS name would be longer "
                    "than 80 characters; its bindings are kept in this process only",
                    exchange,
                )
            return None
        try:
            return self.transport.queue_url(table, create=create)
        except ChannelError:
            return None

    @property
    def _sqs(self) -> Any:
        return self.transport.clients.client("sqs")

    def load(self, exchange: str) -> tuple[str | None, list[Binding]]:
        """``(type, bindings)`` of ``exchange`` as stored (``(None, [])`` if none), cached."""
        now = time.monotonic()
        cached = self._cache.get(exchange)
        if cached is not None and now - cached[2] < self.refresh_interval:
            return cached[0], cached[1]
        url = self._url(exchange, create=False)
        type_: str | None = None
        table: list[Binding] = []
        if url is not None:
            try:
                tags = self._sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
            except boto_exc.ClientError:
                tags = {}
            type_ = tags.get(_TYPE_TAG)
            for key, value in sorted(tags.items()):
                if key.startswith("b."):
                    try:
                        rk, pattern, queue = json.loads(value)
                    except (ValueError, TypeError):
                        continue
                    table.append((rk, pattern, queue))
        with self._lock:
            self._cache[exchange] = (type_, table, now)
        return type_, table

    def add(self, exchange: str, type_: str, binding: Binding) -> bool:
        """Store ``binding`` of ``exchange``; whether it could be stored."""
        value = json.dumps(list(binding), default=str)
        if len(value) > _MAX_TAG_VALUE:
            logger.warning(
                "sqs: binding %r of exchange %r is too long to store on the server "
                "(SQS tags hold 256 characters); other processes will not route by it",
                binding,
                exchange,
            )
            return False
        url = self._url(exchange, create=True)
        if url is None:
            return False
        tags = self._sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        key = _tag_key(binding)
        if key not in tags and len(tags) >= _MAX_TAGS:
            logger.warning(
                "sqs: exchange %r has %d stored bindings, SQS's limit; binding %r is kept in this process only",
                exchange,
                len(tags) - 1,
                binding,
            )
            return False
        self._sqs.tag_queue(QueueUrl=url, Tags={_TYPE_TAG: type_, key: value})
        self._forget(exchange)
        return True

    def remove(self, exchange: str, binding: Binding) -> None:
        """Drop ``binding`` of ``exchange`` from the server (missing is fine)."""
        url = self._url(exchange, create=False)
        if url is not None:
            self._sqs.untag_queue(QueueUrl=url, TagKeys=[_tag_key(binding)])
        self._forget(exchange)

    def drop(self, exchange: str) -> None:
        """Delete ``exchange``'s table (the exchange is deleted)."""
        self.transport.delete_queue(self._table_queue(exchange))
        self._forget(exchange)

    def _forget(self, exchange: str) -> None:
        with self._lock:
            self._cache.pop(exchange, None)


class StoredBindings(virtual.Channel):
    """The channel's side of stored bindings (:class:`.channel.Channel` is built on it)."""

    if TYPE_CHECKING:
        connection: Transport

    def _sns_fanout(self, ex_type: Any) -> bool:
        """Whether bindings of an exchange of ``ex_type`` are SNS subscriptions (not stored here)."""
        return self.supports_fanout and ex_type.type == "fanout"

    def get_table(self, exchange: str) -> list[Binding]:
        """This process's bindings of ``exchange`` merged with those stored on the server."""
        if self._exchange_record(exchange) is None:
            raise KeyError(exchange)
        local = super().get_table(exchange)
        store = self.connection.bindings
        if store is None or self._sns_fanout(self.typeof(exchange)):
            return local
        _, stored = store.load(exchange)
        extra = [b for b in stored if b not in local]
        return [*local, *extra] if extra else local

    def queue_bind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kwargs: Any
    ) -> None:
        """Bind ``queue`` to ``exchange``; a new binding is stored for every process."""
        new = not self.state.has_binding(queue, exchange or "amq.direct", routing_key)
        super().queue_bind(queue, exchange, routing_key, arguments, **kwargs)
        exchange = exchange or "amq.direct"
        ex_type = self.typeof(exchange)
        store = self.connection.bindings
        if new and store is not None and not self._sns_fanout(ex_type):
            binding = ex_type.prepare_bind(queue, exchange, routing_key, arguments)
            store.add(exchange, ex_type.type, binding)

    def queue_unbind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kwargs: Any
    ) -> None:
        """Remove a binding, from the server too."""
        exchange = exchange or "amq.direct"
        ex_type = self.typeof(exchange)
        binding = ex_type.prepare_bind(
            queue,
            exchange,
            routing_key,
            self.state.bindings.get(binding_key_t(queue, exchange, routing_key), arguments),
        )
        super().queue_unbind(queue, exchange, routing_key, arguments, **kwargs)
        store = self.connection.bindings
        if store is not None and not self._sns_fanout(ex_type):
            store.remove(exchange, binding)

    def _drop_stored_binding(self, queue: str, exchange: str, binding: Binding) -> None:
        """Drop one binding of a deleted ``queue``: its SNS subscription or its stored table entry."""
        if self._sns_fanout(self.typeof(exchange)):
            self.connection.fanout.unsubscribe(exchange, queue)
        elif self.connection.bindings is not None:
            self.connection.bindings.remove(exchange, binding)
