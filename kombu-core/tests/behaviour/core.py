"""Connection, entities, Message, Consumer and Producer on memory://, each answer or exception by name."""

from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.exceptions import MessageStateError, NotBoundError
from recording import Result, attempter

result: Result = {}
attempt = attempter(result, detail=100)


def conn_info():
    c = Connection(
        "amqp://user:pw@host1:5673/vh;amqp://user:pw@host2//",
        transport_options={"a": 1},
        heartbeat=5,
        connect_timeout=3,
        ssl={"cert_reqs": 0},
        failover_strategy="shuffle",
    )
    info = c.info()
    info = {
        k: (v if isinstance(v, (str, int, float, bool, type(None), dict, list)) else repr(type(v)))
        for k, v in info.items()
    }
    return {
        "as_uri": c.as_uri(),
        "as_uri_pw": c.as_uri(include_password=True),
        "repr": repr(c).split(" at 0x")[0],
        "str": str(c).split(" at 0x")[0],
        "hostname": c.hostname,
        "port": c.port,
        "userid": c.userid,
        "virtual_host": c.virtual_host,
        "alt": c.alt,
        "transport_options": c.transport_options,
        "heartbeat": c.heartbeat,
        "info_keys": sorted(info),
        "info": {
            k: info[k]
            for k in (
                "hostname",
                "userid",
                "password",
                "virtual_host",
                "port",
                "insist",
                "ssl",
                "transport_cls",
                "connect_timeout",
                "login_method",
                "uri_prefix",
                "heartbeat",
                "failover_strategy",
                "alternates",
            )
            if k in info
        },
        "clone_uri": c.clone().as_uri(),
        "clone_hb": c.clone(heartbeat=9).heartbeat,
    }


attempt("connection_info", conn_info)


def conn_memory():
    c = Connection("memory://")
    out = {
        "connected_before": c.connected,
        "uri": c.as_uri(),
        "is_evented": c.is_evented,
        "transport_cls": c.transport_cls,
        "qos_semantics_matches_spec": repr(type(c.qos_semantics_matches_spec)),
        "supports_exchange_type_topic": c.supports_exchange_type("topic"),
        "supports_exchange_type_headers": c.supports_exchange_type("headers"),
        "manager": type(c.get_manager()).__name__ if hasattr(c, "get_manager") else None,
        "recoverable_connection_errors": [e.__name__ for e in c.recoverable_connection_errors],
        "recoverable_channel_errors": [e.__name__ for e in c.recoverable_channel_errors],
        "connection_errors": [e.__name__ for e in c.connection_errors],
        "channel_errors": [e.__name__ for e in c.channel_errors],
        "default_channel_type": type(c.default_channel).__name__,
        "connected_after": c.connected,
        "driver": [c.transport.driver_type, c.transport.driver_name],
        "driver_version": c.transport.driver_version(),
        "completes_cycle": [c.completes_cycle(0), c.completes_cycle(1)],
        "heartbeat_check": c.heartbeat_check(),
        "get_heartbeat_interval": c.get_heartbeat_interval(),
    }
    c.release()
    out["connected_released"] = c.connected
    return out


attempt("connection_memory", conn_memory)


def ensure():
    c = Connection("memory://")
    calls = []

    def fun(x, y=0, channel=None):
        calls.append((x, y, channel is ch))
        return x + y

    ch = c.channel()

    class Obj:
        def revive(self, channel):
            calls.append("revive")

    ensured = c.ensure(Obj(), fun, max_retries=1)
    r = ensured(1, y=2)
    auto = c.autoretry(fun, channel=ch)
    r2 = auto(3)  # (return value, channel used)
    r2 = [r2[0], r2[1] is ch] if isinstance(r2, tuple) else ["not a tuple", r2]
    return [r, r2, calls]


attempt("ensure", ensure)


def entities():
    ex = Exchange("bh_e", "topic", durable=False)
    q = Queue("bh_q", ex, "a.*", max_priority=3, message_ttl=1.5, expires=2, max_length=5)
    out = {
        "repr_e": repr(ex),
        "repr_q": repr(q),
        "q_args": q.queue_arguments,
        "binding_args": q.binding_arguments,
        "e_eq": ex == Exchange("bh_e", "topic", durable=False),
        "q_eq": q == Queue("bh_q", ex, "a.*", max_priority=3, message_ttl=1.5, expires=2, max_length=5),
        "e_hash_eq": hash(ex) == hash(Exchange("bh_e")),
        "q_hash_eq": hash(q) == hash(Queue("bh_q")),
        "e_as_dict": sorted(ex.as_dict()),
        "q_as_dict": sorted(q.as_dict()),
        "bool_empty_exchange": bool(Exchange("")),
        "can_cache": [ex.can_cache_declaration, q.can_cache_declaration],
        "binding_repr": repr(binding(ex, "k")),
        "e_delivery_mode": [
            Exchange("x", delivery_mode="persistent").delivery_mode,
            Exchange("x", delivery_mode="transient").delivery_mode,
            Exchange("x").delivery_mode,
        ],
    }
    try:
        q.declare()
    except NotBoundError:
        out["unbound"] = "NotBoundError"
    c = Connection("memory://")
    ch = c.channel()
    q = Queue("bh_q", ex, "a.*", max_priority=3)
    b = q(ch)
    out["bound_repr"] = repr(b)
    out["declare"] = b.declare()
    out["queue_declare"] = list(b.queue_declare(passive=True))
    out["purge"] = b.purge()
    Producer(ch).publish(
        {"x": 1},
        exchange=ex,
        routing_key="a.b",
        headers={"h": 1},
        priority=2,
        correlation_id="c",
        reply_to="r",
        message_id="m1",
        app_id="app",
        type="t",
        timestamp=123,
        user_id=None,
    )
    m = b.get(no_ack=False, accept=["json"])
    out["msg"] = {
        "payload": m.payload,
        "headers": m.headers,
        "content_type": m.content_type,
        "content_encoding": m.content_encoding,
        "properties": {
            k: v for k, v in m.properties.items() if k not in ("delivery_tag", "delivery_info", "body_encoding")
        },
        "delivery_info": {
            k: v for k, v in m.delivery_info.items() if k in ("exchange", "routing_key", "priority", "redelivered")
        },
        "acknowledged": m.acknowledged,
        "repr_prefix": repr(m)[:20],
        "body_type": type(m.body).__name__,
        "decode": m.decode(),
    }
    m.ack()
    try:
        m.ack()
    except MessageStateError:
        out["double_ack"] = "MessageStateError"
    out["after_ack"] = [m.acknowledged, m._state if hasattr(m, "_state") else None]
    Producer(ch).publish(
        b"\x00bin", exchange=ex, routing_key="a.c", content_type="application/octet-stream", content_encoding="binary"
    )
    m = b.get(accept=["application/octet-stream"])
    out["binary"] = [repr(m.payload), m.content_type]
    m.reject(requeue=True)
    m2 = b.get()
    out["requeued"] = [m2.delivery_info.get("redelivered"), repr(m2.body)]
    m2.requeue()
    m3 = b.get(no_ack=True)
    out["no_ack_state"] = m3.acknowledged
    out["size_after"] = b.queue_declare(passive=True).message_count
    out["delete"] = b.delete()
    return out


attempt("entities", entities)


def consumer():
    c = Connection("memory://")
    ch = c.channel()
    q = Queue("bh_cons", Exchange("bh_cons_x"), "k")
    got = []
    cons = Consumer(ch, [q], callbacks=[lambda b, m: (got.append(b), m.ack())], prefetch_count=1, tag_prefix="tp")
    out = {"queues": [x.name for x in cons.queues], "repr": repr(cons)[:40]}
    cons.consume()
    out["consuming"] = cons.consuming_from(q) if hasattr(cons, "consuming_from") else None
    out["active"] = [x.name for x in cons.queues]
    Producer(ch).publish([1], exchange=q.exchange, routing_key="k")
    c.drain_events(timeout=1)
    out["got"] = got
    q2 = Queue("bh_cons2", Exchange("bh_cons_x"), "k2")
    cons.add_queue(q2)
    cons.consume()
    Producer(ch).publish([2], exchange=q.exchange, routing_key="k2")
    c.drain_events(timeout=1)
    out["got2"] = got
    cons.cancel_by_queue("bh_cons2")
    out["after_cancel"] = [x.name for x in cons.queues]
    out["purge"] = cons.purge()
    cons.cancel()
    bad = []
    cons3 = Consumer(
        ch,
        [q],
        callbacks=[lambda b, m: bad.append("cb")],
        on_decode_error=lambda m, exc: bad.append(type(exc).__name__),
    )
    cons3.consume()
    Producer(ch).publish("x", exchange=q.exchange, routing_key="k", serializer="pickle")
    c.drain_events(timeout=1)
    out["decode_error"] = bad
    cons3.cancel()
    return out


attempt("consumer", consumer)


def producer():
    c = Connection("memory://")
    p = Producer(c)
    out = {
        "exchange_name": p.exchange.name,
        "serializer": p.serializer,
        "auto_declare": p.auto_declare,
        "routing_key": p.routing_key,
        "compression": p.compression,
        "repr": repr(p)[:20],
    }
    p2 = c.Producer(serializer="pickle", exchange=Exchange("bh_pe"), routing_key="rk")
    out["p2"] = [p2.serializer, p2.exchange.name, p2.routing_key]
    ret = p2.publish("x", declare=[Queue("bh_pq", Exchange("bh_pe"), "rk")])
    out["publish_returns"] = type(ret).__name__
    q = Queue("bh_pq", Exchange("bh_pe"), "rk")(c.channel())
    m = q.get(accept=["pickle"])
    out["pickled"] = [m.payload, m.content_type, m.properties.get("delivery_mode")]
    return out


attempt("producer", producer)
