"""The Amazon SQS transport (``sqs://``), on boto3.

Also importable as ``kombu.transport.SQS`` (Kombu 5's module path), with
Kombu 5's names ``Transport``, ``Channel`` and ``QoS``.

One boto3 client per service for each ``kombu.Connection``; queue URLs are
resolved once per connection and cached. Consuming receives up to 10
messages per call (bounded by the prefetch window), long-polling with
``WaitTimeSeconds`` while nothing is there; acks leave in
``DeleteMessageBatch`` calls. See :mod:`.channel` for the acknowledgement
contract and the README for the options.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, cast

import boto3
from botocore import exceptions as boto_exc
from kombu.exceptions import ChannelError, OperationalError
from kombu.transport import virtual
from kombu.transport.virtual.base import BrokerState

from . import fanout as SNS  # noqa: N812 - Kombu 5.7's module name (kombu.transport.SQS.SNS)
from .bindings import BindingStore
from .channel import Channel, QoS
from .channel import Channel as SQSChannel
from .expiry import QueueExpiry
from .fanout import SnsFanout
from .naming import entity_name, is_fifo
from .publisher import PublishWindow
from .settings import ClientFactory, Settings

__all__ = (
    "Transport",
    "Channel",
    "QoS",
    "SNS",
    "SQSConnectionError",
    "UndefinedQueueException",
    "DoesNotExistQueueException",
)

logger = logging.getLogger(__name__)

_STATES: dict[tuple[Any, ...], BrokerState] = {}
_STATES_LOCK = threading.Lock()


class SQSConnectionError(OperationalError):
    """SQS cannot be reached."""


class UndefinedQueueException(ChannelError):
    """A queue not listed in ``predefined_queues`` was used (Kombu 5.7's name)."""


class DoesNotExistQueueException(ChannelError):
    """The SQS queue does not exist (Kombu 5.7's name)."""


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    return str(error.get("QueryErrorCode") or error.get("Code") or "")


class Transport(virtual.Transport):
    """SQS on the core's virtual engine, wire-compatible with Kombu 5.7."""

    Channel = Channel
    default_port = None
    driver_type = "sqs"
    driver_name = "sqs"
    polling_interval: float | None = 1.0
    implements = virtual.Transport.implements.extend(
        asynchronous=True,
        exchange_type=frozenset(["direct", "topic", "fanout", "headers"]),
    )
    connection_errors = virtual.Transport.connection_errors + (boto_exc.BotoCoreError, socket.error, SQSConnectionError)
    channel_errors = virtual.Transport.channel_errors + (boto_exc.ClientError,)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.settings = Settings.from_connection(client)
        self.polling_interval = self.settings.polling_interval
        self.clients = ClientFactory(self.settings)
        self.attribute_request = self.settings.message_attribute_request()
        self._urls: dict[str, str] = {}
        self._urls_lock = threading.Lock()
        self._fanout: SnsFanout | None = None
        # Predefined queues are the only queues: no binding table queue can be made.
        self.bindings: BindingStore | None = (
            BindingStore(self, self.settings.binding_refresh_interval)
            if self.settings.store_bindings and not self.settings.predefined_queues
            else None
        )
        self.publisher = PublishWindow(self._sqs_client)
        self.expiry = QueueExpiry(self)
        #: Whether a delivery burst is running (acks made in it are batched).
        self.delivering = False
        self._rr = 0
        self._loop: Any = None
        s = self.settings
        self._state_key = (s.endpoint_url, s.region, s.access_key_id, s.queue_name_prefix)

    def _sqs_client(self) -> Any:
        return self.clients.client("sqs")

    def flush_publishes(self) -> None:
        """Wait until this connection's published messages are on SQS (see :mod:`.publisher`)."""
        if self.publisher._pending or self.publisher._inflight:
            self.publisher.flush()

    # -- shared state, names, URLs ----------------------------------------------------
    @property
    def state(self) -> BrokerState:  # type: ignore[override]
        with _STATES_LOCK:
            state = _STATES.get(self._state_key)
            if state is None:
                state = _STATES[self._state_key] = BrokerState()
            return state

    @property
    def fanout(self) -> SnsFanout:
        if self._fanout is None:
            self._fanout = SnsFanout(self)
        return self._fanout

    def sqs_name(self, queue: str) -> str:
        """The SQS name of Kombu queue ``queue`` (prefix and character mapping)."""
        return entity_name(queue, self.settings.queue_name_prefix)

    def queue_url(self, queue: str, create: bool = True) -> str:
        """The URL of ``queue``'s SQS queue, created on first use when ``create``.

        Raises :class:`ChannelError` subclasses when it does not exist (and
        ``create`` is false) or is not a predefined queue.
        """
        try:
            return self._urls[queue]
        except KeyError:
            pass
        s = self.settings
        name = self.sqs_name(queue)
        if s.predefined_queues:
            spec = s.predefined_queues.get(queue) or s.predefined_queues.get(name)
            if spec is None:
                raise UndefinedQueueException(
                    f"queue {name!r} must be defined in the 'predefined_queues' transport option"
                )
            url = str(spec["url"])
        else:
            url = self._lookup_or_create(queue, name, create)
        with self._urls_lock:
            self._urls[queue] = url
        return url

    def _lookup_or_create(self, queue: str, name: str, create: bool) -> str:
        client = self.clients.client("sqs")
        try:
            return str(client.get_queue_url(QueueName=name)["QueueUrl"])
        except boto_exc.ClientError as exc:
            if "NonExistentQueue" not in _error_code(exc) and "QueueDoesNotExist" not in _error_code(exc):
                raise
        if not create:
            raise DoesNotExistQueueException(f"NOT_FOUND - no SQS queue {name!r}")
        attributes = {"VisibilityTimeout": str(self.settings.visibility_timeout)}
        if is_fifo(name):
            attributes["FifoQueue"] = "true"
        attributes.update({k: str(v) for k, v in self.settings.creation_attributes.items()})
        params: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if self.settings.queue_tags:
            params["tags"] = dict(self.settings.queue_tags)
        try:
            return str(client.create_queue(**params)["QueueUrl"])
        except boto_exc.ClientError as exc:
            if "QueueAlreadyExists" not in _error_code(exc):
                raise
            # Created meanwhile (or earlier with other attributes): use it as it is.
            return str(client.get_queue_url(QueueName=name)["QueueUrl"])

    def delete_queue(self, queue: str) -> None:
        """Delete ``queue``'s SQS queue (a missing queue is not an error)."""
        try:
            url = self.queue_url(queue, create=False)
        except ChannelError:
            return
        try:
            self.clients.client("sqs").delete_queue(QueueUrl=url)
        except boto_exc.ClientError as exc:
            if "NonExistentQueue" not in _error_code(exc) and "QueueDoesNotExist" not in _error_code(exc):
                raise
        finally:
            with self._urls_lock:
                self._urls.pop(queue, None)

    # -- connection -------------------------------------------------------------------
    def establish_connection(self) -> Transport:
        """Check that SQS answers (one ``ListQueues`` call).

        An error answer (e.g. ``AccessDenied`` for ``sqs:ListQueues``) still
        proves the endpoint and credentials work; an unreachable endpoint or
        missing credentials raise :class:`SQSConnectionError`.
        """
        try:
            self.clients.client("sqs").list_queues(QueueNamePrefix=self.settings.queue_name_prefix, MaxResults=1)
        except boto_exc.ClientError:
            pass
        except boto_exc.BotoCoreError as exc:
            raise SQSConnectionError(
                f"cannot create the SQS client: {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from None
        return self

    def _scrub(self, text: str) -> str:
        secret = self.settings.secret_access_key
        return text.replace(secret, "**") if secret else text

    def verify_connection(self, connection: Any) -> bool:
        return True

    def driver_version(self) -> str:
        return str(boto3.__version__)

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {"port": None, "hostname": None}

    def close_connection(self, connection: Any) -> None:
        self._stop_poller()
        try:
            super().close_connection(connection)
        finally:
            self.publisher.close()

    # -- consuming (blocking) -----------------------------------------------------------
    def _consumers(self) -> list[SQSChannel]:
        return cast("list[SQSChannel]", list(self._consuming))

    def deliver_buffered(self) -> int:
        """Deliver every buffered message the prefetch windows allow; flush the acks."""
        n = 0
        self.delivering = True
        try:
            for channel in self._consumers():
                n += channel.deliver_buffered()
        finally:
            self.delivering = False
            for channel in cast("list[SQSChannel]", list(self.channels)):
                if channel._deletes:
                    channel.flush_deletes()
        return n

    def _fetchable(self) -> list[tuple[SQSChannel, str]]:
        pairs: list[tuple[SQSChannel, str]] = []
        for channel in self._consumers():
            if channel.window() > 0:
                pairs.extend((channel, q) for q in list(channel._active_queues))
        return pairs

    def _fetch_one_batch(self, pairs: list[tuple[SQSChannel, str]]) -> int:
        """Short-poll the queues in turn until one has messages; how many it gave.

        One queue's batch per ``drain_events``, as in Kombu 5.7, so a call
        returns after the callbacks of one batch (at most 10 messages).
        """
        n = len(pairs)
        for i in range(n):
            channel, queue = pairs[(self._rr + i) % n]
            got = channel.fetch(queue, 0)
            if got:
                self._rr = (self._rr + i + 1) % n
                return got
        return 0

    def long_poll_seconds(self, queues: int) -> int:
        """``WaitTimeSeconds`` for a long poll: ``wait_time_seconds``, 1 s with several
        queues (they are polled in turn), short enough to keep expiring queues fresh."""
        wait = self.settings.wait_time_seconds if queues == 1 else min(self.settings.wait_time_seconds, 1)
        cap = self.expiry.poll_cap()
        return wait if cap is None else min(wait, cap)

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Deliver the messages available (at least one) or raise ``socket.timeout``.

        Short-polls every consumed queue first; when all are empty it
        long-polls (``wait_time_seconds``, bounded by ``timeout``; 1 s per
        queue in turn when several are consumed).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self.flush_publishes()
        while True:
            if self.deliver_buffered():
                return
            pairs = self._fetchable()
            if self._fetch_one_batch(pairs):
                continue
            self.expiry.refresh_consumed()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()
            wait = self.long_poll_seconds(len(pairs))
            if remaining is not None:
                wait = min(wait, int(remaining))
            if pairs and wait >= 1:
                channel, queue = pairs[self._rr % len(pairs)]
                self._rr += 1
                channel.fetch(queue, wait)
            else:
                pause = self.polling_interval or 0.05
                if not pairs:  # prefetch window full: an ack from another thread frees it
                    pause = min(pause, 0.05)
                time.sleep(pause if remaining is None else max(min(pause, remaining), 0))

    # -- event loop ----------------------------------------------------------------------
    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver from ``loop``: a poller thread receives, a pipe wakes the loop."""
        from .eventloop import Poller

        if self._loop is None:
            self._loop = Poller(self, loop)
        self._loop.start()

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        self._stop_poller()

    def _stop_poller(self) -> None:
        poller, self._loop = self._loop, None
        if poller is not None:
            poller.stop()
