"""Pickling Exchange/Queue/bound entities; ``INPUT`` holds the other implementation's pickles to load."""

import base64
import pickle

from entity_description import describe
from kombu import Connection, Exchange, Queue, binding
from recording import Result

#: Base64 pickles to load, by entity name (set by the runner; empty when run alone).
INPUT: dict[str, str] = globals().get("INPUT") or {}

ex = Exchange("bh_pk_x", "topic", durable=False, auto_delete=True, delivery_mode=1, arguments={"a": 1})
entities = {
    "exchange": ex,
    "queue": Queue(
        "bh_pk_q",
        ex,
        "a.#",
        durable=False,
        exclusive=True,
        queue_arguments={"x-q": 1},
        max_priority=5,
        expires=10,
        message_ttl=1.5,
        consumer_arguments={"x-priority": 1},
    ),
    "multi": Queue(
        "bh_pk_m", bindings=[binding(ex, "a.*", arguments={"k": "v"}), binding(Exchange("bh_pk_f", "fanout"))]
    ),
}
conn = Connection("memory://")
entities["bound"] = entities["queue"](conn.channel())
result: Result = {"own": {}, "loaded": {}, "pickles": {}}
for key, entity in entities.items():
    clone = pickle.loads(pickle.dumps(entity))
    result["own"][key] = {
        "description": describe(clone),
        "equal": clone == entity,
        "bound": clone.is_bound,
        "same_as_original": describe(clone) == describe(entity),
    }
    result["pickles"][key] = base64.b64encode(pickle.dumps(entity, protocol=2)).decode()
for key, data in INPUT.items():
    result["loaded"][key] = describe(pickle.loads(base64.b64decode(data)))
