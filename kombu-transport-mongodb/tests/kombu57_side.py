"""Kombu 5.7.0's side of the wire-compatibility tests, run by ``.venv-kombu57/bin/python``.

Usage: ``python kombu57_side.py '<json command>'``; prints one JSON line.

Kombu 5.7.0's MongoDB transport cannot start on the stand-in server
nx-27017, for two reasons that are the stand-in's, not the protocol's; this
script patches exactly those, in this process only:

* ``server_info()`` has no ``version`` on nx-27017 (Kombu reads it, KeyError):
  ``Channel._open`` is given a client whose ``server_info`` says 7.0.0;
* nx-27017 fails every insert once ``_id`` is part of a compound index, which
  Kombu 5.7 creates (``queue, priority, _id``): Kombu's ``_ensure_indexes``
  creates ``queue, priority`` instead.

The collection names are given as transport options (the stand-in rejects
dotted names; see ``kombu_transport_mongodb.quirks``).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def patch_kombu_for_the_stand_in() -> None:
    import pymongo
    from kombu.transport import mongodb

    class _Client(pymongo.MongoClient):  # type: ignore[misc, type-arg]
        def server_info(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            info = dict(super().server_info(*args, **kwargs))
            info.setdefault("version", "7.0.0")
            return info

    mongodb.MongoClient = _Client

    def _ensure_indexes(self: Any, database: Any) -> None:
        database[self.messages_collection].create_index([("queue", 1), ("priority", 1)])
        database[self.routing_collection].create_index([("queue", 1), ("exchange", 1)])

    mongodb.Channel._ensure_indexes = _ensure_indexes


def main(cmd: dict[str, Any]) -> Any:
    patch_kombu_for_the_stand_in()
    from kombu import Connection, Consumer, Exchange, Producer, Queue

    exchange = Exchange(cmd["exchange"], cmd.get("type", "direct"))
    queue = Queue(cmd["queue"], exchange, routing_key=cmd.get("rk", cmd["queue"]), max_priority=cmd.get("max_priority"))
    with Connection(cmd["url"], transport_options=cmd.get("options", {})) as conn:
        channel = conn.channel()
        if cmd["op"] == "publish":
            queue(channel).declare()
            producer = Producer(channel, exchange=exchange)
            for item in cmd["messages"]:
                producer.publish(
                    item["body"],
                    routing_key=cmd.get("rk", cmd["queue"]),
                    priority=item.get("priority"),
                    headers=item.get("headers"),
                )
            return {"published": len(cmd["messages"])}
        if cmd["op"] == "size":
            return {"size": queue(channel).queue_declare(passive=True).message_count}
        got: list[dict[str, Any]] = []

        def on_message(body: Any, message: Any) -> None:
            got.append({"body": body, "priority": message.properties.get("priority"), "headers": message.headers})
            message.ack()

        with Consumer(conn.channel(), [queue], callbacks=[on_message], accept=["json"]):
            deadline = time.monotonic() + cmd.get("timeout", 5)
            while len(got) < cmd["count"] and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        return {"got": got}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
