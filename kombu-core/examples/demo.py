"""The project's main job: producer -> exchange -> queue -> consumer on memory://.

Declares a direct, a topic and a fanout exchange with their queues, publishes
a few messages to each, then consumes everything and prints where each
message was routed and what was received.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kombu import Connection, Exchange, Queue

media = Exchange("media", "direct")
logs = Exchange("logs", "topic")
news = Exchange("news", "fanout")

QUEUES = [
    Queue("video", media, routing_key="video"),
    Queue("images", media, routing_key="images"),
    Queue("errors", logs, routing_key="*.error"),
    Queue("all-stock", logs, routing_key="stock.#"),
    Queue("news-eu", news),
    Queue("news-us", news),
]

MESSAGES = [
    (media, "video", {"name": "/tmp/lolcat1.avi", "size": 1301013}),
    (media, "images", {"name": "/tmp/cat.jpg", "size": 5012}),
    (logs, "db.error", {"text": "disk full"}),
    (logs, "stock", {"text": "market open"}),
    (logs, "stock.nyse.ibm", {"text": "IBM up 2%"}),
    (logs, "db.info", {"text": "vacuum done (no queue binds db.info)"}),
    (news, "ignored-key", {"headline": "Fanout reaches every bound queue"}),
]


def main(url: str = "memory://") -> dict[str, list[Any]]:
    received: dict[str, list[Any]] = defaultdict(list)
    with Connection(url) as conn:
        producer = conn.Producer(serializer="json")
        for exchange, routing_key, body in MESSAGES:
            producer.publish(body, exchange=exchange, routing_key=routing_key, declare=QUEUES)
            print(f"published to {exchange.name!r} ({exchange.type}) with key {routing_key!r}: {body}")

        consumers = []
        for queue in QUEUES:

            def callback(body: Any, message: Any, name: str = queue.name) -> None:
                received[name].append(body)
                message.ack()

            consumers.append(conn.Consumer(queue, callbacks=[callback]))
        for consumer in consumers:
            consumer.consume()
        while True:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                break
        for consumer in consumers:
            consumer.cancel()

    print()
    for queue in QUEUES:
        bodies = received.get(queue.name, [])
        print(f"queue {queue.name!r:<12} <- {len(bodies)} message(s): {bodies}")
    return received


if __name__ == "__main__":
    main()
