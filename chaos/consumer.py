"""The consumer process of a chaos scenario: ``python -m chaos.consumer``.

Consumes numbered messages with :class:`kombu.mixins.ConsumerMixin`
(which reconnects after connection errors) and appends ``<number> <time>``
to ``--out`` for each message *before* acking it, so a message is recorded
at least once if it was delivered; a line ``# ready <time>`` marks each
start of consuming. Runs until killed (SIGTERM/SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin


class Recorder(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue, out: Any, prefetch: int, delay: float) -> None:
        self.connection = connection
        self.queue = queue
        self.out = out
        self.prefetch = prefetch
        self.delay = delay

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        return [Consumer([self.queue], callbacks=[self.on_message], accept=["json"], prefetch_count=self.prefetch)]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        self.out.write(f"# ready {time.time():.4f}\n")
        self.out.flush()

    def on_message(self, body: Any, message: Any) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.out.write(f"{body} {time.time():.4f}\n")
        self.out.flush()
        message.ack()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--options", default="{}", help="transport options (JSON)")
    parser.add_argument("--prefetch", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    queue = Queue(args.queue, Exchange(args.queue, "direct"), routing_key=args.queue)
    conn = Connection(args.url, connect_timeout=2, transport_options=json.loads(args.options))
    with open(args.out, "a", encoding="utf-8") as out:
        Recorder(conn, queue, out, args.prefetch, args.delay).run()


if __name__ == "__main__":
    main()
