"""Run one queue operation in a fresh process (no broker state shared with the tests).

``python other_process.py URL PREFIX ACTION JSON`` where ACTION is
``declare`` (JSON: queue name and ``Queue`` keyword arguments), ``publish``
(JSON: exchange, routing key, bodies) or ``drain`` (JSON: queue name; prints
the payloads it got as JSON).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from kombu import Connection, Exchange, Queue


def main(url: str, prefix: str, action: str, spec: dict[str, Any]) -> None:
    with Connection(url, transport_options={"global_keyprefix": prefix}) as conn:
        if action == "declare":
            name = spec["queue"]
            Queue(name, Exchange(name, "direct"), name, **spec["kwargs"])(conn.default_channel).declare()
        elif action == "publish":
            producer = conn.Producer()
            for body in spec["bodies"]:
                producer.publish(body, exchange=spec["exchange"], routing_key=spec["routing_key"])
        elif action == "drain":
            name = spec["queue"]
            bound = Queue(name, Exchange(name, "direct"), name)(conn.default_channel)
            got = []
            while (message := bound.get()) is not None:
                got.append(message.payload)
                message.ack()
            print(json.dumps(got))
        else:
            raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
