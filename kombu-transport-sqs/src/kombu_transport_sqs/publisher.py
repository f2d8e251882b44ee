"""Publishing in batches: windowed confirmations instead of one request per message.

By default a publish is one ``SendMessage``, confirmed before ``publish``
returns. With ``batch_publish=True`` (opt-in) a publish puts the message in the
connection's window and returns; a sender thread sends the window with
``SendMessageBatch`` (up to 10 messages and 256 KiB per request, one queue at a
time, in publish order). Guarantees:

* every operation that reads the broker through this connection
  (``drain_events``, ``basic_get``, a queue's size, purge, delete) and
  ``close`` first waits until the window is empty (:meth:`PublishWindow.flush`);
  a connection error met by the sender is raised there, and the messages stay
  in the window, sent again when SQS answers (so ``ensure``/``autoretry``
  retrying the operation is enough);
* a message SQS refuses for good (a sender fault: too large, invalid
  characters, the queue deleted) is logged as an error, never retried forever;
  a message over 256 KiB is sent at once, so an error (too large for the queue)
  reaches the publisher;
* the interpreter's exit waits (bounded) for the windows of open connections.

What batching gives up, and why it is opt-in: a process killed (SIGKILL) right
after a publish returned may lose what was still in its window (a few
milliseconds' worth) -- a returned publish that is neither on SQS nor re-sent.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import Any

from botocore import exceptions as boto_exc

__all__ = ("PublishWindow", "MAX_MESSAGE_BYTES")

logger = logging.getLogger(__name__)

#: The bytes of one batch request, and the largest message that is batched: SQS's
#: historical 256 KiB limit (queues may still have it as ``MaximumMessageSize``; SQS
#: takes 1 MiB since 2025). Larger messages are sent at once, so that a refusal
#: reaches the publisher.
MAX_MESSAGE_BYTES = 256 * 1024
_BATCH = 10
_WINDOWS: weakref.WeakSet[PublishWindow] = weakref.WeakSet()


def entry_size(entry: dict[str, Any]) -> int:
    """The bytes SQS counts for ``entry`` (body plus attribute names and values)."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, attr in (entry.get("MessageAttributes") or {}).items():
        size += len(name) + len(str(attr.get("DataType", "")))
        size += len(str(attr.get("StringValue") or attr.get("BinaryValue") or ""))
    return size


def _permanent(exc: BaseException) -> bool:
    """Whether SQS refused the request for good (a sender fault other than throttling)."""
    if not isinstance(exc, boto_exc.ClientError):
        return False
    error = exc.response.get("Error") or {}
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 500)
    code = str(error.get("Code") or "")
    return 400 <= int(status) < 500 and "Throttl" not in code and "RequestThrottled" not in code


class PublishWindow:
    """The unsent publishes of one connection, and the thread sending them."""

    def __init__(self, client_for: Any, linger: float = 0.002) -> None:
        #: ``client_for()`` returns the boto3 SQS client (thread-safe).
        self.client_for = client_for
        self.linger = linger
        self._pending: dict[str, deque[dict[str, Any]]] = {}
        self._cond = threading.Condition()
        self._inflight = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        _WINDOWS.add(self)

    def __len__(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._pending.values()) + self._inflight

    def put(self, url: str, entry: dict[str, Any]) -> None:
        """Add a ``SendMessageBatch`` entry (no ``Id``) for queue ``url``."""
        with self._cond:
            self._pending.setdefault(url, deque()).append(entry)
            if self._thread is None or not self._thread.is_alive():
                self._closed = False
                self._thread = threading.Thread(target=self._run, name="kombu-sqs-publisher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every publish was accepted by SQS.

        Raises the sender's connection error when it cannot reach SQS (the
        messages stay in the window), or ``TimeoutError`` after ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._inflight or any(self._pending.values()):
                if self._error is not None:
                    raise self._error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{len(self)} publishes not yet accepted by SQS")
                self._cond.wait(remaining if remaining is not None else 1.0)

    def close(self, timeout: float = 10.0) -> None:
        """Flush (bounded by ``timeout``) and stop the thread; log what could not be sent."""
        try:
            self.flush(timeout)
        except Exception as exc:  # noqa: BLE001 - reported below
            logger.error(
                "sqs: %d published messages were not accepted by SQS before the connection closed: %r", len(self), exc
            )
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _take(self) -> tuple[str, list[dict[str, Any]]] | None:
        for url, entries in self._pending.items():
            if entries:
                batch: list[dict[str, Any]] = []
                size = 0
                while entries and len(batch) < _BATCH:
                    nxt = entry_size(entries[0])
                    if batch and size + nxt > MAX_MESSAGE_BYTES:
                        break
                    batch.append(entries.popleft())
                    size += nxt
                self._inflight += len(batch)
                return url, batch
        return None

    def _run(self) -> None:
        backoff = 0.2
        while True:
            with self._cond:
                idle_since = time.monotonic()
                while not any(self._pending.values()):
                    if self._closed or time.monotonic() - idle_since > 5.0:
                        # Idle: end (put() starts a new thread), so that a connection
                        # dropped without close() leaves no thread behind.
                        self._thread = None
                        return
                    self._cond.wait(1.0)
                total = sum(len(q) for q in self._pending.values())
                if total < _BATCH and self.linger:
                    self._cond.wait(self.linger)  # let a burst fill the batch
                taken = self._take()
            if taken is None:
                continue
            url, batch = taken
            try:
                failed = self._send(url, batch)
            except Exception as exc:  # noqa: BLE001 - kept and raised by flush()
                if _permanent(exc):
                    logger.error("sqs: SQS refused %d published messages for %s: %r", len(batch), url, exc)
                    failed = []
                else:
                    with self._cond:
                        self._pending.setdefault(url, deque()).extendleft(reversed(batch))
                        self._inflight -= len(batch)
                        self._error = exc
                        self._cond.notify_all()
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            backoff = 0.2
            with self._cond:
                if failed:
                    self._pending.setdefault(url, deque()).extendleft(reversed(failed))
                self._inflight -= len(batch)
                self._error = None
                self._cond.notify_all()

    def _send(self, url: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send one batch; return the entries to retry (those refused for good are logged)."""
        resp = self.client_for().send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), **e} for i, e in enumerate(batch)]
        )
        retry = []
        for failed in resp.get("Failed") or ():
            entry = batch[int(failed["Id"])]
            if failed.get("SenderFault"):
                logger.error(
                    "sqs: SQS refused a published message for %s: %s %s", url, failed.get("Code"), failed.get("Message")
                )
            else:
                retry.append(entry)
        return retry


def _forget_after_fork() -> None:
    """In a forked child: the parent's unsent publishes are the parent's to send."""
    for window in list(_WINDOWS):
        window._cond = threading.Condition()
        window._pending = {}
        window._inflight = 0
        window._error = None
        window._thread = None


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def _flush_at_exit() -> None:
    for window in list(_WINDOWS):
        window.close(timeout=5.0)
