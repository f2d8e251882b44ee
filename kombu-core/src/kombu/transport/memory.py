"""``memory://``: an in-process broker on the virtual routing engine.

Every connection in the process shares one broker, so a producer and a
consumer on different connections (or threads) talk to each other. Queues
declared with ``max_priority`` deliver higher priorities first. Message
TTL, queue expiry, max length (count and bytes) and dead-lettering come
from the virtual engine (:mod:`kombu.transport.virtual.policy`).
"""

from __future__ import annotations

import heapq
import os
import threading
from collections import deque
from collections.abc import Mapping
from itertools import count
from queue import Empty
from typing import Any

from kombu.transport import virtual
from kombu.transport.virtual.message import INVALID_KEY

__all__ = ("Transport", "Channel", "MemoryBroker")

#: ``delivery_info`` key holding a delivered message's place in its queue, so a
#: requeue puts it back there (RabbitMQ's requeue: the original position).
POSITION_KEY = "memory_position"


class MemoryQueue:
    """One queue's messages: FIFO, or by priority when ``max_priority`` is set.

    Every message gets a position when it is put; :meth:`take` hands it out
    with the message, and a message put back with its position (a requeue)
    returns to where it was, ahead of everything put after it, as RabbitMQ
    requeues. Positions are unique within one queue object, not across a
    queue deleted and declared again, so heap entries carry a tie-breaker.
    """

    __slots__ = ("max_priority", "_fifo", "_returned", "_heap", "_seq", "_front", "_ties")

    def __init__(self, max_priority: int | None = None) -> None:
        self.max_priority = max_priority
        self._fifo: deque[tuple[int, dict[str, Any]]] = deque()
        #: Requeued FIFO messages, a heap of (position, tie-breaker, message).
        self._returned: list[tuple[int, int, dict[str, Any]]] = []
        #: Messages of a priority queue, a heap of (-priority, position, tie-breaker, message).
        self._heap: list[tuple[int, int, int, dict[str, Any]]] = []
        self._seq = count(1)
        self._front = count(0, -1)  # positions ahead of every other, for put(front=True)
        self._ties = count()

    def _priority(self, message: Mapping[str, Any]) -> int:
        try:
            priority = int(message["properties"].get("priority") or 0)
        except (TypeError, ValueError):
            priority = 0
        return max(0, min(priority, self.max_priority or 0))

    def put(self, message: dict[str, Any], position: int | None = None, front: bool = False) -> None:
        """Add ``message`` at the back, at ``position`` (one :meth:`take` gave), or in front."""
        if front:
            position = next(self._front)
        if position is None:
            position = next(self._seq)
            if self.max_priority is None:
                self._fifo.append((position, message))
                return
        elif self.max_priority is None:
            heapq.heappush(self._returned, (position, next(self._ties), message))
            return
        heapq.heappush(self._heap, (-self._priority(message), position, next(self._ties), message))

    def take(self) -> tuple[int, dict[str, Any]]:
        """Remove the next message; return its position and the message. Raises ``Empty``."""
        if self.max_priority is None:
            if self._returned:
                position, _, message = heapq.heappop(self._returned)
                return position, message
            if not self._fifo:
                raise Empty()
            return self._fifo.popleft()
        if not self._heap:
            raise Empty()
        _, position, _, message = heapq.heappop(self._heap)
        return position, message

    def get(self) -> dict[str, Any]:
        """Remove and return the next message (``Empty`` when there is none)."""
        return self.take()[1]

    def qsize(self) -> int:
        """How many messages are held (:class:`queue.Queue`'s name, as Kombu 5's memory queues)."""
        return len(self)

    def empty(self) -> bool:
        """Whether no message is held."""
        return len(self) == 0

    def bytes(self) -> int:
        """The total size of the bodies of the messages held."""
        total = 0
        for _, message in self._fifo:
            total += _body_size(message)
        for _, _, message in self._returned:
            total += _body_size(message)
        for _, _, _, message in self._heap:
            total += _body_size(message)
        return total

    def purge(self) -> int:
        size = len(self)
        self._fifo.clear()
        self._returned.clear()
        self._heap.clear()
        return size

    def __len__(self) -> int:
        return len(self._fifo) + len(self._returned) + len(self._heap)


def _body_size(message: Mapping[str, Any]) -> int:
    body = message.get("body")
    return len(body) if isinstance(body, (bytes, str)) else 0


class MemoryBroker:
    """The process-wide store behind every ``memory://`` connection."""

    def __init__(self) -> None:
        self.queues: dict[str, MemoryQueue] = {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.waiting = 0
        self.tags = count(1)
        #: Write ends of the pipes of event loops waiting for messages.
        self.wakers: set[int] = set()

    def queue(self, name: str) -> MemoryQueue:
        try:
            return self.queues[name]
        except KeyError:
            return self.queues.setdefault(name, MemoryQueue())

    def notify(self) -> None:
        self.version += 1
        if self.waiting:
            self.changed.notify_all()
        for fd in self.wakers:
            try:
                os.write(fd, b"\0")
            except (BlockingIOError, OSError):
                pass  # the pipe is full: the loop is already due to wake

    def clear(self) -> None:
        with self.lock:
            self.queues.clear()


broker = MemoryBroker()


class Channel(virtual.Channel):
    """A channel on the in-process broker."""

    stores_objects = True
    engine_queue_expiry = True

    @property
    def queues(self) -> dict[str, MemoryQueue]:
        """The broker's queues by name (Kombu 5's ``Channel.queues``), shared by every connection.

        Read-only use: ``channel.queues[name].qsize()``. Changing the dict
        bypasses the broker's lock.
        """
        return broker.queues

    def _next_delivery_tag(self) -> None:
        return None  # each delivery gets its own tag in _get

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return queue in broker.queues

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        arguments = kwargs.get("arguments") or {}
        max_priority = arguments.get("x-max-priority")
        with broker.lock:
            if queue not in broker.queues:
                broker.queues[queue] = MemoryQueue(max_priority)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        with broker.lock:
            q = broker.queues.get(queue)
            if q is None:
                raise Empty()
            position, payload = q.take()
        # Each delivery gets its own properties and tag: one published
        # envelope may sit in several queues (fanout).
        try:
            properties = dict(payload["properties"])
            properties["delivery_info"] = delivery_info = dict(properties["delivery_info"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return self._poison(payload)
        delivery_info[POSITION_KEY] = position
        properties["delivery_tag"] = next(broker.tags)
        return {**payload, "properties": properties}

    def _poison(self, payload: Any) -> dict[str, Any]:
        """A deliverable envelope for a malformed stored one (its decode raises)."""
        raw = payload if isinstance(payload, dict) else {"body": payload}
        props = raw.get("properties")
        properties: dict[str, Any] = dict(props) if isinstance(props, dict) else {}
        properties["delivery_info"] = {}
        properties["delivery_tag"] = next(broker.tags)
        properties[INVALID_KEY] = "properties or delivery_info is not a mapping"
        return {**raw, "properties": properties}

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        with broker.lock:
            broker.queue(queue).put(message)
            broker.notify()

    def _restore_at_beginning(self, message: virtual.Message) -> None:
        payload = message.serializable()
        payload["redelivered"] = True
        queue = message.queue
        if not queue:
            return self._restore(message)
        position = message.delivery_info.get(POSITION_KEY)
        with broker.lock:
            if isinstance(position, int):
                broker.queue(queue).put(payload, position)
            else:
                broker.queue(queue).put(payload, front=True)
            broker.notify()

    def _purge(self, queue: str) -> int:
        with broker.lock:
            q = broker.queues.get(queue)
            return q.purge() if q is not None else 0

    def _size(self, queue: str) -> int:
        q = broker.queues.get(queue)
        return len(q) if q is not None else 0

    def _queue_bytes(self, queue: str) -> int:
        with broker.lock:
            q = broker.queues.get(queue)
            return q.bytes() if q is not None else 0

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        with broker.lock:
            broker.queues.pop(queue, None)

    def close(self) -> None:
        super().close()
        with broker.lock:
            broker.notify()


class Transport(virtual.Transport):
    """The ``memory://`` transport."""

    Channel = Channel
    #: One topology for every memory connection in the process.
    state = virtual.BrokerState()
    #: Kombu 5's name for :attr:`state`.
    global_state = state
    driver_type = "memory"
    driver_name = "memory"
    polling_interval = 0.05
    implements = virtual.Transport.implements.extend(asynchronous=True)

    def _poll_token(self) -> int:
        return broker.version

    def _wait_for_messages(self, token: Any, timeout: float | None) -> None:
        with broker.lock:
            broker.waiting += 1
            try:
                broker.changed.wait_for(lambda: broker.version != token, timeout)
            finally:
                broker.waiting -= 1

    def driver_version(self) -> str:
        return "N/A"

    # -- event loop (kombu.asynchronous.Hub) -------------------------------------------

    _wakeup: tuple[int, int] | None = None
    _timer_entry: Any = None

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Deliver messages from ``loop``: woken through a pipe on every put.

        A periodic pass also runs every ``polling_interval`` seconds, for
        messages held back by the prefetch limit until an ack frees room.
        """
        if self._wakeup is None:
            read_fd, write_fd = os.pipe()
            os.set_blocking(read_fd, False)
            os.set_blocking(write_fd, False)
            self._wakeup = (read_fd, write_fd)
            with broker.lock:
                broker.wakers.add(write_fd)
        loop.add_reader(self._wakeup[0], self._on_wakeup)
        self._timer_entry = loop.call_repeatedly(self.polling_interval or 0.05, self.deliver_ready)
        loop.call_soon(self.deliver_ready)

    def unregister_from_event_loop(self, connection: Any, loop: Any) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        if self._wakeup is None:
            return
        read_fd, write_fd = self._wakeup
        self._wakeup = None
        loop.remove(read_fd)
        with broker.lock:
            broker.wakers.discard(write_fd)
        os.close(read_fd)
        os.close(write_fd)

    def _on_wakeup(self) -> None:
        assert self._wakeup is not None
        try:
            while os.read(self._wakeup[0], 4096):
                pass
        except BlockingIOError:
            pass
        self.deliver_ready()

    def deliver_ready(self) -> int:
        """Deliver every message that can be delivered now; return how many."""
        if self.state.expiring and self.channels:
            self.channels[0]._expire_unused_queues()
        delivered = 0
        progress = True
        while progress:
            progress = False
            for channel in list(self._consuming):
                if channel.deliver_one():
                    delivered += 1
                    progress = True
        return delivered

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        if self._wakeup is not None:
            read_fd, write_fd = self._wakeup
            self._wakeup = None
            with broker.lock:
                broker.wakers.discard(write_fd)
            os.close(read_fd)
            os.close(write_fd)
