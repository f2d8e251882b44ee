"""Kombu's higher-level API on a transport: SimpleQueue, pools, ConsumerMixin, pidbox, the hub.

These helpers are written once in the core, but what they do depends on the
broker underneath (blocking gets, queue sizes, fanout, redelivery, event-loop
registration), so every transport runs them too.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ..base import ConformanceBase, poll, requires

__all__ = ("PatternsConformance",)


class PatternsConformance(ConformanceBase):
    """``kombu.simple``, ``kombu.pools``, ``kombu.mixins``, ``kombu.pidbox`` and the hub."""

    def _simple_names(self, name: str) -> None:
        """Register the queue and exchange a SimpleQueue named ``name`` declares, for cleanup."""
        self.queue(exchange=self.exchange("direct", name=name), name=name)

    # -- kombu.simple -------------------------------------------------------------
    def test_simple_queue_put_get_qsize(self) -> None:
        conn = self.connection()
        name = self.name("simple")
        self._simple_names(name)
        queue = conn.SimpleQueue(name)
        try:
            queue.put({"n": 1})
            queue.put({"n": 2})
            first = queue.get(timeout=self.timeout)
            second = queue.get(timeout=self.timeout)
            got = [first.payload, second.payload]
            assert (got if self.fifo else sorted(got, key=repr)) == [{"n": 1}, {"n": 2}]
            assert queue.qsize() == 0
            first.ack()
            second.ack()
            with pytest.raises(queue.Empty):
                queue.get(timeout=self.quiet_period)
        finally:
            queue.close()

    def test_simple_queue_unacked_message_comes_back(self) -> None:
        name = self.name("simple")
        self._simple_names(name)
        first = self.connection()
        queue = first.SimpleQueue(name)
        queue.put("keep")
        message = queue.get(timeout=self.timeout)
        assert message.payload == "keep"
        queue.close()
        first.release()  # dies without acking
        second = self.connection()
        again = second.SimpleQueue(name)
        try:
            redelivered = again.get(timeout=self.redelivery_timeout)
            assert redelivered.payload == "keep"
            redelivered.ack()
        finally:
            again.close()

    # -- kombu.pools / kombu.common -------------------------------------------------
    def test_pooled_producer_and_maybe_declare(self) -> None:
        from kombu.common import maybe_declare
        from kombu.exceptions import ConnectionLimitExceeded
        from kombu.pools import producers

        conn = self.connection()
        queue = self.queue()
        pool = producers[conn]
        with pool.acquire(block=True, timeout=self.timeout) as producer:
            maybe_declare(queue, producer.channel)
            producer.publish({"pooled": True}, exchange=queue.exchange, routing_key=queue.routing_key)
        message = self.get_eventually(queue(conn.default_channel))
        assert message is not None and message.payload == {"pooled": True}
        message.ack()
        limited = conn.Pool(limit=1)
        held = limited.acquire()
        try:
            with pytest.raises(ConnectionLimitExceeded):
                limited.acquire()
        finally:
            held.release()
        limited.force_close_all()

    # -- kombu.mixins ---------------------------------------------------------------
    def test_consumer_mixin_consumes_until_should_stop(self) -> None:
        from kombu.mixins import ConsumerMixin

        conn = self.connection()
        queue = self.declared_queue(conn)
        for i in range(3):
            self.publish(conn, queue, i)

        class Worker(ConsumerMixin):
            def __init__(self, connection: Any) -> None:
                self.connection = connection
                self.bodies: list[Any] = []

            def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
                return [Consumer(queues=[queue], callbacks=[self.on_message])]

            def on_message(self, body: Any, message: Any) -> None:
                self.bodies.append(body)
                message.ack()
                if len(self.bodies) == 3:
                    self.should_stop = True

        worker = Worker(conn)
        thread = threading.Thread(target=worker.run, kwargs={"safety_interval": 0.25}, daemon=True)
        thread.start()
        thread.join(self.timeout * 3)
        stopped = not thread.is_alive()
        worker.should_stop = True
        assert stopped, "ConsumerMixin.run() did not return after should_stop"
        assert sorted(worker.bodies) == [0, 1, 2]

    @requires("network")
    def test_consumer_mixin_reconnects_after_connection_cut(self, fault_proxy: Any) -> None:
        from kombu.mixins import ConsumerMixin
        from kombu.utils.limits import TokenBucket

        direct = self.connection()
        queue = self.declared_queue(direct)
        proxied = self.connection(fault_proxy.url(self.url))
        first_seen = threading.Event()

        class Worker(ConsumerMixin):
            def __init__(self, connection: Any) -> None:
                self.connection = connection
                self.bodies: list[Any] = []
                self.revived = 0
                self.restart_limit = TokenBucket(100, capacity=10)

            def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
                return [Consumer(queues=[queue], callbacks=[self.on_message])]

            def on_connection_revived(self) -> None:
                self.revived += 1

            def on_message(self, body: Any, message: Any) -> None:
                message.ack()
                self.bodies.append(body)
                first_seen.set()
                if "after" in self.bodies:
                    self.should_stop = True

        worker = Worker(proxied)
        thread = threading.Thread(target=worker.run, kwargs={"safety_interval": 0.25}, daemon=True)
        thread.start()
        try:
            self.publish(direct, queue, "before")
            assert first_seen.wait(self.timeout * 2), "the worker consumed nothing"
            assert fault_proxy.cut(reset=True) >= 1, "the worker was not connected via the proxy"
            # Publish once the worker is back: a message published while the
            # cut is still in flight may go to the dead connection, which is
            # the redelivery tests' business, not this one's.
            assert poll(lambda: worker.revived >= 2, self.redelivery_timeout), "the worker did not reconnect"
            self.publish(direct, queue, "after")
            thread.join(self.redelivery_timeout * 2)
            stopped = not thread.is_alive()
        finally:
            worker.should_stop = True
        assert stopped, "the worker did not get the message published after the cut"
        assert worker.bodies.count("before") >= 1 and "after" in worker.bodies
        assert worker.revived >= 2, "the worker did not reconnect"

    # -- kombu.pidbox -----------------------------------------------------------------
    @requires("exchange:fanout")
    def test_pidbox_call_collects_a_reply_from_each_node(self) -> None:
        from kombu.pidbox import Mailbox

        mailbox = Mailbox(self.name("pidbox"), type="fanout")
        ready = threading.Event()
        stop = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                conn = self._new_connection(self.url)
                try:
                    bound = mailbox(conn)
                    for hostname in ("n1", "n2"):
                        node = bound.Node(
                            hostname, handlers={"ping": lambda state, h=hostname: f"pong {h}"}, channel=conn.channel()
                        )
                        node.listen()
                    # one round first: transports that subscribe lazily (Redis
                    # PUBSUB for fanout) only receive broadcasts after it
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
                    ready.set()
                    while not stop.is_set():
                        try:
                            conn.drain_events(timeout=0.1)
                        except TimeoutError:
                            pass
                finally:
                    conn.release()
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread  # pragma: no cover
                errors.append(exc)
                ready.set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            assert ready.wait(self.timeout * 2)
            conn = self.connection()
            replies: dict[str, Any] = {}
            # Broadcasts are at-most-once on some brokers (fanout over pub/sub
            # reaches only subscribed nodes): ask again for missing replies.
            for _ in range(3):
                missing = [h for h in ("n1", "n2") if h not in replies]
                if not missing:
                    break
                for reply in mailbox(conn).call(missing, "ping", timeout=self.timeout) or []:
                    replies.update(reply)
        finally:
            stop.set()
            thread.join(self.timeout * 2)
        assert errors == []
        assert replies == {"n1": "pong n1", "n2": "pong n2"}

    # -- kombu.asynchronous -------------------------------------------------------------
    @requires("async_events")
    def test_hub_drives_a_consumer(self) -> None:
        from kombu import Consumer
        from kombu.asynchronous import Hub

        conn = self.connection()
        assert conn.is_evented, "the transport declares async_events but Connection.is_evented is false"
        queue = self.declared_queue(conn)
        received: list[Any] = []
        hub = Hub()

        def on_message(body: Any, message: Any) -> None:
            received.append(body)
            message.ack()
            if len(received) == 2:
                hub.stop()

        timeout_entry = hub.call_later(self.timeout * 2, hub.stop)
        try:
            with Consumer(conn.default_channel, [queue], callbacks=[on_message]):
                conn.register_with_event_loop(hub)
                sender = self.connection()
                self.publish(sender, queue, "a")
                self.publish(sender, queue, "b")
                hub.run_forever()
        finally:
            timeout_entry.cancel()
            try:
                conn.transport.unregister_from_event_loop(conn.connection, hub)
            finally:
                hub.close()
        assert sorted(received) == ["a", "b"]
