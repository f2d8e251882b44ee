"""Resources follow their owner: a consuming Connection dropped without close().

The lease thread holds its transport weakly, so a dropped (garbage
collected) connection stops renewing, its thread ends, its sockets close,
and its unacknowledged messages come back after ``visibility_timeout``.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any

from kombu import Connection, Exchange, Queue

DROPS = 50


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _consume_one_and_drop(url: str, queue: Queue, options: dict[str, Any]) -> None:
    conn = Connection(url, transport_options=options)
    got: list[Any] = []
    consumer = conn.Consumer([queue], callbacks=[lambda body, message: got.append(body)], prefetch_count=1)
    consumer.consume()
    conn.drain_events(timeout=10)
    assert len(got) == 1
    # Leaves without close(), as an exception would: no ack, no cancel.


def test_dropped_consumers_leave_no_thread_or_fd_and_their_messages_come_back(redis_url: str, uname: str) -> None:
    options = {
        "global_keyprefix": f"{uname}:",
        "visibility_timeout": 1.5,
        "lease_interval": 0.1,
        "unacked_restore_interval": 0.2,
    }
    queue = Queue(uname, Exchange(uname, "direct"), uname)
    with Connection(redis_url, transport_options=options) as producer_conn:
        producer = producer_conn.Producer()
        producer.publish(-1, exchange=queue.exchange, routing_key=uname, declare=[queue])
        _consume_one_and_drop(redis_url, queue, options)  # warm up imports and pools
        gc.collect()
        fds, threads = _fds(), threading.active_count()
        for i in range(DROPS):
            producer.publish(i, exchange=queue.exchange, routing_key=uname)
            _consume_one_and_drop(redis_url, queue, options)
            gc.collect()
        deadline = time.monotonic() + 10
        while (threading.active_count() > threads or _fds() > fds) and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.1)
        assert threading.active_count() <= threads, [t.name for t in threading.enumerate()]
        assert _fds() <= fds + 2  # slack: a socket the GC has not reached yet

        # Nobody renews those deliveries any more: a live consumer restores them.
        received: set[int] = set()
        with Connection(redis_url, transport_options=options) as conn:
            with conn.Consumer([queue], callbacks=[lambda body, message: (received.add(body), message.ack())]):
                deadline = time.monotonic() + 30
                while len(received - {-1}) < DROPS and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
        assert set(range(DROPS)) <= received
