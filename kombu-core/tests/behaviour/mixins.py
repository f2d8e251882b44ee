"""ConsumerMixin's callbacks in order and ConsumerProducerMixin's separate producer connection."""

from kombu import Connection, Exchange, Queue
from kombu.mixins import ConsumerMixin, ConsumerProducerMixin
from recording import Result

result: Result = {}
ex = Exchange("bh_mx", "direct")
q = Queue("bh_mq", ex, "k")


class Worker(ConsumerMixin):
    def __init__(self, connection, stop_after):
        self.connection = connection
        self.stop_after = stop_after
        self.events = []
        self.got = []

    def get_consumers(self, Consumer, channel):
        self.events.append(["get_consumers", type(channel).__name__])
        return [Consumer(queues=[q], callbacks=[self.on_message], accept=["json"])]

    def on_message(self, body, message):
        self.got.append(body)
        message.ack()
        if len(self.got) >= self.stop_after:
            self.should_stop = True

    def on_connection_revived(self):
        self.events.append("on_connection_revived")

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.events.append(["on_consume_ready", len(consumers), sorted(kwargs)])

    def on_consume_end(self, connection, channel):
        self.events.append("on_consume_end")

    def on_iteration(self):
        if "on_iteration" not in self.events:
            self.events.append("on_iteration")

    def on_connection_error(self, exc, interval):
        self.events.append(["on_connection_error", type(exc).__name__])


with Connection("memory://") as conn:
    with conn.Producer() as p:
        for i in range(3):
            p.publish({"i": i}, exchange=ex, routing_key="k", declare=[q])
    w = Worker(conn, 3)
    w.run()
    result["consumer"] = {
        "got": w.got,
        "events": w.events,
        "should_stop": w.should_stop,
        "restart_limit": [w.restart_limit.capacity, w.restart_limit.fill_rate],
        "errors": [sorted(e.__name__ for e in w.connection_errors), sorted(e.__name__ for e in w.channel_errors)],
        "connect_max_retries": w.connect_max_retries,
    }

    class Server(ConsumerProducerMixin):
        def __init__(self, connection):
            self.connection = connection
            self.replies = []

        def get_consumers(self, Consumer, channel):
            return [Consumer(queues=[Queue("bh_rpc", ex, "rpc")], callbacks=[self.on_request])]

        def on_request(self, body, message):
            self.producer.publish({"reply": body["n"] * 2}, exchange=ex, routing_key="k", declare=[q])
            message.ack()
            self.should_stop = True

    with conn.Producer() as p:
        p.publish({"n": 21}, exchange=ex, routing_key="rpc", declare=[Queue("bh_rpc", ex, "rpc")])
    s = Server(conn)
    s.run()
    result["producer_mixin"] = {
        "separate_connection": s.producer_connection is not conn,
        "producer_connection_type": type(s.producer_connection).__name__,
    }
    reply = q(conn.default_channel).get(no_ack=True)
    result["producer_mixin"]["reply"] = reply.payload
