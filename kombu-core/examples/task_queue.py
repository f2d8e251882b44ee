"""A small task queue, written the way Kombu 5 applications are.

A worker (``ConsumerMixin``, in a thread) consumes tasks from three priority
queues and publishes each result with a pooled producer
(``producers[conn].acquire()``); the client sends tasks the same way after
``maybe_declare``-ing the exchange and queues, and reads the results back
from a ``SimpleQueue``. Each thread uses connections of its own. Nothing here is specific to this
project: the same file runs on Kombu 5.

Run it with a broker URL (default ``memory://``, everything in one process)::

    python examples/task_queue.py [URL]
"""

from __future__ import annotations

import sys
import threading

from kombu import Connection, Exchange, Queue
from kombu.common import maybe_declare
from kombu.mixins import ConsumerMixin
from kombu.pools import producers

task_exchange = Exchange("tasks", type="direct")
task_queues = [
    Queue("hipri", task_exchange, routing_key="hipri"),
    Queue("midpri", task_exchange, routing_key="midpri"),
    Queue("lopri", task_exchange, routing_key="lopri"),
]
RESULTS = "task-results"
# The queue conn.SimpleQueue(RESULTS) reads: same names, so the worker can
# publish to it with a pooled producer.
results_exchange = Exchange(RESULTS, type="direct")
results_queue = Queue(RESULTS, results_exchange, routing_key=RESULTS)


def hello(who):
    return f"Hello {who}"


def add(x, y):
    return x + y


TASKS = {"hello": hello, "add": add}


class Worker(ConsumerMixin):
    """Runs tasks and publishes their results to the results queue."""

    def __init__(self, connection):
        self.connection = connection

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=task_queues, accept=["json"], callbacks=[self.process_task])]

    def process_task(self, body, message):
        fun = TASKS[body["fun"]]
        result = fun(*body["args"], **body["kwargs"])
        # A pooled producer: its own connection, never the one the client uses.
        with producers[self.connection].acquire(block=True) as producer:
            producer.publish(
                {"task": body["id"], "result": result},
                exchange=results_exchange,
                routing_key=RESULTS,
                declare=[results_queue],
                serializer="json",
            )
        message.ack()


def send_as_task(connection, task_id, fun, args=(), kwargs=None, priority="midpri"):
    payload = {"id": task_id, "fun": fun, "args": list(args), "kwargs": kwargs or {}}
    with producers[connection].acquire(block=True) as producer:
        maybe_declare(task_exchange, producer.channel)
        for queue in task_queues:
            maybe_declare(queue, producer.channel)
        producer.publish(payload, exchange=task_exchange, routing_key=priority, serializer="json")


def main(url="memory://"):
    with Connection(url) as conn:
        worker = Worker(conn)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()

        send_as_task(conn, 1, "hello", ("Kombu",), priority="hipri")
        send_as_task(conn, 2, "add", (2, 3), priority="midpri")
        send_as_task(conn, 3, "add", kwargs={"x": 40, "y": 2}, priority="lopri")

        results = {}
        with conn.SimpleQueue(RESULTS) as queue:
            while len(results) < 3:
                message = queue.get(block=True, timeout=10)
                results[message.payload["task"]] = message.payload["result"]
                message.ack()

        worker.should_stop = True
        thread.join(10)

        for task_id in sorted(results):
            print(f"task {task_id}: {results[task_id]!r}")
        print("worker stopped" if not thread.is_alive() else "worker still running")


if __name__ == "__main__":
    main(*sys.argv[1:])
