"""A transport written the Kombu 5 way runs here with only a plugin added.

The transport below implements nothing but Kombu 5's virtual storage
primitives; registered through the ``kombu_transports`` hook it passes the
conformance kit, exchanges, acks and prefetch included.
"""

from __future__ import annotations

from collections import deque
from queue import Empty
from typing import Any

from kombu import plugins
from kombu.hookspecs import Capabilities, TransportInfo, hookimpl
from kombu.testing import TransportConformance
from kombu.transport import virtual

_queues: dict[str, deque[Any]] = {}


class Channel(virtual.Channel):
    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        _queues.setdefault(queue, deque())

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return queue in _queues

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        try:
            return _queues[queue].popleft()
        except (KeyError, IndexError):
            raise Empty() from None

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        _queues.setdefault(queue, deque()).append(message)

    def _size(self, queue: str) -> int:
        return len(_queues.get(queue, ()))

    def _purge(self, queue: str) -> int:
        q = _queues.get(queue)
        size = len(q) if q else 0
        if q:
            q.clear()
        return size

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        _queues.pop(queue, None)


class Transport(virtual.Transport):
    Channel = Channel
    state = virtual.BrokerState()
    polling_interval = 0.01
    driver_type = driver_name = "kombu5style"


class Plugin:
    @hookimpl
    def kombu_transports(self) -> list[TransportInfo]:
        return [
            TransportInfo(
                name="kombu5style",
                schemes=("kombu5style",),
                target=f"{__name__}:Transport",
                distribution="example-kombu5style",
                capabilities=Capabilities(),
            )
        ]


plugins.register(Plugin(), name="kombu5style-example")


class TestKombu5StyleTransport(TransportConformance):
    url = "kombu5style://"
