"""Queue.from_dict() on Celery's task_queues shapes, each result described attribute by attribute."""

from entity_description import describe
from kombu import Queue
from recording import Result

cases: dict[str, tuple[str, Result]] = {
    "celery_add_compat": ("celery", dict(exchange="celery", exchange_type="direct", routing_key="celery")),
    "binding_key_wins": (
        "video",
        dict(exchange="media", exchange_type="topic", binding_key="video.#", routing_key="ignored", durable=False),
    ),
    "split_durability": (
        "split",
        dict(
            exchange="fan",
            exchange_type="fanout",
            routing_key="",
            durable=True,
            exchange_durable=False,
            queue_auto_delete=True,
            exchange_auto_delete=False,
        ),
    ),
    "arguments": (
        "prio",
        dict(
            exchange="px",
            routing_key="p",
            queue_arguments={"x-dead": "dlx"},
            max_priority=10,
            expires=30,
            message_ttl=5.5,
            max_length=100,
            max_length_bytes=4096,
            exchange_arguments={"alternate-exchange": "ae"},
            binding_arguments={"x-match": "all"},
            consumer_arguments={"x-priority": 3},
            delivery_mode="transient",
            no_ack=True,
            exclusive=True,
            alias="p-alias",
        ),
    ),
    "name_only": ("only_name", {}),
}
result = {key: describe(Queue.from_dict(name, **options)) for key, (name, options) in cases.items()}
