"""The declarations and publishes Celery makes (events, rpc replies, expires, priorities) on memory://."""

from kombu import Connection, Exchange, Queue
from kombu.common import maybe_declare
from recording import Result

result: Result = {}
# celery.app.base.Celery._connection, with Celery's default settings
try:
    celery_conn = Connection(
        "memory://",
        None,
        None,
        None,
        None,
        transport=None,
        ssl=False,
        heartbeat=None,
        login_method=None,
        failover_strategy=None,
        transport_options={},
        connect_timeout=4,
    )
    result["celery_connection"] = celery_conn.as_uri().split("@")[-1]
    celery_conn.release()
except Exception as exc:
    result["celery_connection"] = type(exc).__name__
with Connection("memory://") as conn:
    ch = conn.channel()
    # celery.events.receiver.EventReceiver's queue
    events = Queue(
        "celeryev.bh",
        Exchange("celeryev", "topic", durable=True),
        routing_key="#",
        auto_delete=True,
        durable=False,
        message_ttl=5.0,
        expires=60.0,
    )
    try:
        maybe_declare(events, ch)
        result["event_queue"] = "declared"
    except Exception as exc:
        result["event_queue"] = type(exc).__name__
    # celery.backends.rpc: the reply queue expires with result_expires
    reply = Queue(
        "bh_oid", Exchange("c.rep", "direct", durable=False), "bh_oid", durable=False, auto_delete=True, expires=86400.0
    )
    try:
        maybe_declare(reply(ch), retry=True)
        result["rpc_reply_queue"] = "declared"
    except Exception as exc:
        result["rpc_reply_queue"] = type(exc).__name__
    # apply_async(expires=10) publishes with an expiration
    q = Queue("bh_celery", Exchange("bh_celery"), "bh_celery")
    with conn.Producer(ch) as producer:
        try:
            producer.publish({"task": "t"}, exchange=q.exchange, routing_key="bh_celery", declare=[q], expiration=10.0)
            result["expiring_publish"] = q(ch).get(no_ack=True).payload
        except Exception as exc:
            result["expiring_publish"] = type(exc).__name__
    # task_queue_max_priority: x-max-priority queues, priority publishes
    pq = Queue("bh_prio", Exchange("bh_prio"), "p", queue_arguments={"x-max-priority": 10})
    with conn.Producer(ch) as producer:
        producer.publish({"n": 1}, exchange=pq.exchange, routing_key="p", declare=[pq], priority=5)
    result["priority_queue"] = pq(ch).get(no_ack=True).payload
