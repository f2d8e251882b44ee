"""producers[conn].acquire(block=True) publishing on memory://; connection and channel pools running dry."""

from kombu import Connection, Exchange, Queue
from kombu.exceptions import ChannelLimitExceeded, ConnectionLimitExceeded
from kombu.pools import producers
from recording import Result

result: Result = {}
conn = Connection("memory://")
ex = Exchange("bh_pp_x", "direct")
q = Queue("bh_pp_q", ex, "k")
group = producers[conn]
result["group_is_stable"] = producers[conn] is group
result["keyed_by_equal_url"] = producers[Connection("memory://")] is group
with group.acquire(block=True) as producer:
    result["producer_class"] = type(producer).__name__
    result["pooled_connection"] = producer.connection is not conn
    producer.publish({"hello": "world"}, exchange=ex, routing_key="k", declare=[q], serializer="json")
    first = producer
with group.acquire(block=True) as again:
    result["reused"] = again is first
got: list[object] = []
with Connection("memory://") as c2:

    def on_message(body, message):
        got.append([body, message.content_type])
        message.ack()

    with c2.Consumer(q, callbacks=[on_message], accept=["json"]):
        c2.drain_events(timeout=1)
result["consumed"] = got
pool = conn.Pool(1)
held = pool.acquire()
try:
    pool.acquire(block=False)
except ConnectionLimitExceeded as exc:
    result["connection_pool_dry"] = type(exc).__name__
held.release()
result["connection_back"] = pool.acquire(block=False) is held
channels = conn.ChannelPool(1)
channel = channels.acquire()
try:
    channels.acquire(block=False)
except ChannelLimitExceeded as exc:
    result["channel_pool_dry"] = type(exc).__name__
channel.release()
result["channel_back"] = channels.acquire(block=False) is channel
