"""Driving the SQS transport from the core's :class:`~kombu.asynchronous.hub.Hub`.

boto3 is blocking, so a poller thread long-polls the consumed queues
(within each channel's prefetch window) into the channels' buffers and
wakes the hub through a pipe; the hub thread delivers the buffered
messages, so callbacks and acks run in the hub's thread. A hub timer
delivers too, for messages held back by the prefetch window until an ack.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("Poller",)

logger = logging.getLogger(__name__)


class Poller:
    """The receiving thread and the hub callbacks of one transport."""

    def __init__(self, transport: Transport, hub: Any) -> None:
        self.transport = transport
        self.hub = hub
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fds: tuple[int, int] | None = None
        self._timer: Any = None
        self._rr = 0

    def start(self) -> None:
        if self._fds is None:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._fds = (r, w)
            self.hub.add_reader(r, self._on_wakeup)
            self._timer = self.hub.call_repeatedly(0.2, self._deliver)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kombu-sqs-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fds, self._fds = self._fds, None
        if fds is not None:
            try:
                self.hub.remove(fds[0])
            except Exception:  # noqa: BLE001 - the hub may be closed already
                pass
            os.close(fds[0])
            os.close(fds[1])
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            # A long poll in flight ends within WaitTimeSeconds; waiting for it lets its
            # messages be given back at once (by the cancel or close that follows), rather
            # than stay hidden for the visibility timeout if the process exits meanwhile.
            thread.join(self.transport.settings.wait_time_seconds + 5.0)

    def _wake(self) -> None:
        fds = self._fds
        if fds is None:
            return
        try:
            os.write(fds[1], b"\0")
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        transport = self.transport
        while not self._stop.is_set():
            try:
                pairs = transport._fetchable()
                if not pairs:
                    self._stop.wait(0.05)
                    continue
                got = 0
                for channel, queue in pairs:
                    got += channel.fetch(queue, 0)
                transport.expiry.refresh_consumed()
                if not got:
                    wait = transport.long_poll_seconds(len(pairs))
                    channel, queue = pairs[self._rr % len(pairs)]
                    self._rr += 1
                    if wait:
                        got = channel.fetch(queue, wait)
                    else:
                        self._stop.wait(transport.polling_interval or 1.0)
                if got:
                    self._wake()
            except Exception as exc:  # noqa: BLE001 - logged, retried
                logger.warning("sqs: poller: %r", exc)
                self._stop.wait(1.0)

    def _on_wakeup(self, *args: Any) -> None:
        fds = self._fds
        if fds is not None:
            try:
                while os.read(fds[0], 4096):
                    pass
            except BlockingIOError:
                pass
        self._deliver()

    def _deliver(self) -> None:
        self.transport.deliver_buffered()
