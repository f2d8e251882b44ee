"""maybe_declare() and Connection.declared_entities on memory://: what is cached, when it is forgotten."""

from kombu import Connection, Exchange, Queue
from kombu.common import maybe_declare
from kombu.exceptions import ChannelError
from recording import Result

result: Result = {}
conn = Connection("memory://")
ch = conn.channel()
ex = Exchange("bh_md_x", "direct", durable=True)
q = Queue("bh_md_q", ex, "rk")
result["first"] = maybe_declare(q, ch)
result["again"] = maybe_declare(q, ch)
result["hash_remembered"] = hash(q) in conn.declared_entities
result["original_left_unbound"] = q.is_bound
same = Queue("bh_md_q", Exchange("bh_md_x", "direct", durable=True), "rk")
result["equal_queue_is_cached"] = not maybe_declare(same, ch)
result["bound_entity_no_channel"] = maybe_declare(Exchange("bh_md_y")(ch))
result["auto_delete_every_time"] = [maybe_declare(Queue("bh_md_ad", ex, "ad", auto_delete=True), ch) for _ in range(2)]
conn.declared_entities.clear()
result["after_clear"] = maybe_declare(q, ch)
with conn.Producer(ch) as producer:
    producer.publish({"n": 1}, exchange=ex, routing_key="rk")
result["declared_for_real"] = q(ch).get(no_ack=True).payload
try:
    maybe_declare(Queue("bh_md_unbound"), None)
except ChannelError:
    result["unbound_without_channel"] = "ChannelError"
conn.close()
result["close_forgets"] = len(conn.declared_entities)
