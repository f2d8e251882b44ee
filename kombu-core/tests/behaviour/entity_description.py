"""Shared helper (not a scenario): describe an Exchange or Queue as a JSON-able dict."""


def describe_exchange(e):
    if e is None:
        return None
    return {
        "name": e.name,
        "type": e.type,
        "durable": e.durable,
        "auto_delete": e.auto_delete,
        "delivery_mode": e.delivery_mode,
        "arguments": e.arguments,
        "no_declare": e.no_declare,
    }


def describe(q):
    from kombu import Exchange

    if isinstance(q, Exchange):
        return describe_exchange(q)
    return {
        "name": q.name,
        "routing_key": q.routing_key,
        "durable": q.durable,
        "auto_delete": q.auto_delete,
        "exclusive": q.exclusive,
        "no_ack": q.no_ack,
        "alias": q.alias,
        "queue_arguments": q.queue_arguments,
        "binding_arguments": q.binding_arguments,
        "consumer_arguments": q.consumer_arguments,
        "expires": q.expires,
        "message_ttl": q.message_ttl,
        "max_length": q.max_length,
        "max_length_bytes": q.max_length_bytes,
        "max_priority": q.max_priority,
        "exchange": describe_exchange(q.exchange),
        "bindings": sorted(
            [b.exchange.name if b.exchange is not None else None, b.routing_key, b.arguments] for b in q.bindings
        ),
    }
