"""A consumer that takes ``count`` messages of a queue, acks none, says so and waits to be killed.

Usage: ``python holder.py URL QUEUE COUNT VISIBILITY_TIMEOUT``. Prints
``held N`` once it holds N unacknowledged messages.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kombu import Connection, Consumer, Queue


def main(url: str, queue_name: str, count: int, visibility_timeout: float) -> None:
    held: list[Any] = []
    conn = Connection(url, transport_options={"visibility_timeout": visibility_timeout})
    queue = Queue(queue_name, routing_key=queue_name)
    with Consumer(
        conn.channel(), [queue], callbacks=[lambda body, message: held.append(message)], prefetch_count=count
    ):
        deadline = time.monotonic() + 30
        while len(held) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
        print(f"held {len(held)}", flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
