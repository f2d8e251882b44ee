"""Connection loss: what a network transport must survive.

These tests run only for network transports (``network`` true, see
:mod:`kombu.testing.base`). They connect through the ``fault_proxy`` fixture
(:class:`kombu.testing.proxy.FaultProxy`) and cut the TCP connections under
the client, as a network failure or a broker restart would.
"""

from __future__ import annotations

from typing import Any

from ..base import ConformanceBase, Recorder, requires
from .acks import assert_redelivered

__all__ = ("ConnectionFaultConformance",)


class ConnectionFaultConformance(ConformanceBase):
    """Unacked messages come back after a cut; ``ensure`` recovers publishing and consuming."""

    @requires("network")
    def test_unacked_message_redelivered_after_connection_cut(self, fault_proxy: Any) -> None:
        from kombu import Consumer

        direct = self.connection()
        queue = self.declared_queue(direct)
        self.publish(direct, queue, {"survive": "cut"})

        proxied = self.connection(fault_proxy.url(self.url))
        rec = Recorder()
        consumer = Consumer(proxied.channel(), [queue], callbacks=[rec], prefetch_count=1)
        consumer.consume()
        self.collect(proxied, rec, 1)
        assert rec.bodies == [{"survive": "cut"}]
        assert fault_proxy.cut(reset=True) >= 1, "the consumer was not connected via the proxy"

        rec2 = Recorder(ack=True)
        with Consumer(direct.channel(), [queue], callbacks=[rec2]):
            self.collect(direct, rec2, 1, timeout=self.redelivery_timeout)
        assert rec2.bodies == [{"survive": "cut"}], "an unacked message was lost in a cut"
        assert_redelivered(rec2.messages[0])

    @requires("network")
    def test_ensure_retries_publish_after_cut(self, fault_proxy: Any) -> None:
        from kombu import Consumer, Producer

        direct = self.connection()
        queue = self.declared_queue(direct)
        proxied = self.connection(fault_proxy.url(self.url))
        producer = Producer(proxied.default_channel, exchange=queue.exchange)
        producer.publish("before", routing_key=queue.routing_key)
        # Settle the first message before the cut: a publish still in flight
        # when the network fails is not guaranteed by any transport.
        first = self.get_eventually(queue(direct.default_channel))
        assert first is not None and first.payload == "before"
        first.ack()
        assert fault_proxy.cut(reset=True) >= 1, "the producer was not connected via the proxy"

        publish = proxied.ensure(
            producer, producer.publish, max_retries=5, interval_start=0, interval_step=0.2, interval_max=1
        )
        publish("after", routing_key=queue.routing_key)

        rec = Recorder(ack=True)
        with Consumer(direct.channel(), [queue], callbacks=[rec]):
            self.collect(direct, rec, 1)
            self.watch(direct)
        # At-least-once: "after" must arrive; a publish whose confirm was lost in the cut
        # ("before") may be re-sent as a duplicate, never anything else.
        assert "after" in rec.bodies, "a publish retried by ensure() after a cut was lost"
        assert set(rec.bodies) <= {"before", "after"}, rec.bodies

    @requires("network")
    def test_consumer_recovers_after_cut_mid_stream(self, fault_proxy: Any) -> None:
        from kombu import Consumer

        direct = self.connection()
        queue = self.declared_queue(direct)
        total = 6
        for i in range(total):
            self.publish(direct, queue, i)

        proxied = self.connection(fault_proxy.url(self.url))
        rec = Recorder(ack=True)
        consumer = Consumer(proxied.default_channel, [queue], callbacks=[rec], prefetch_count=1)
        consumer.consume()
        self.collect(proxied, rec, 2)
        assert len(rec) >= 2
        assert fault_proxy.cut(reset=True) >= 1, "the consumer was not connected via the proxy"

        def drain_once() -> None:
            try:
                proxied.drain_events(timeout=0.25)
            except TimeoutError:
                pass

        drain = proxied.ensure(
            consumer,
            drain_once,
            max_retries=10,
            interval_start=0,
            interval_step=0.2,
            interval_max=1,
            on_revive=lambda channel: consumer.consume(),
        )
        self.drain_with(drain, lambda: set(rec.bodies) >= set(range(total)), self.redelivery_timeout)
        assert set(rec.bodies) == set(range(total)), f"lost messages: got {sorted(rec.bodies)}"
        assert fault_proxy.accepted >= 2, "the consumer did not reconnect through the proxy"

    @requires("network")
    def test_autoretry_retries_on_a_new_channel_after_cut(self, fault_proxy: Any) -> None:
        from kombu import Consumer, Producer

        direct = self.connection()
        queue = self.declared_queue(direct)
        proxied = self.connection(fault_proxy.url(self.url))
        channels: list[Any] = []

        def send(body: str, channel: Any) -> str:
            channels.append(channel)
            Producer(channel, exchange=queue.exchange).publish(body, routing_key=queue.routing_key)
            return body

        send_retrying = proxied.autoretry(send, max_retries=5, interval_start=0, interval_step=0.2, interval_max=1)
        result, _ = send_retrying("one")
        assert result == "one"
        first = self.get_eventually(queue(direct.default_channel))
        assert first is not None and first.payload == "one"
        first.ack()
        assert fault_proxy.cut(reset=True) >= 1, "the producer was not connected via the proxy"

        result, channel = send_retrying("two")
        assert result == "two"
        # The channel handed back is the one the (last) attempt used; it is a
        # new one when the client saw the cut, the same one when its client
        # library reconnected underneath.
        assert channels[-1] is channel
        rec = Recorder(ack=True)
        with Consumer(direct.channel(), [queue], callbacks=[rec]):
            self.collect(direct, rec, 1)
            self.watch(direct)
        # At-least-once: "two" must arrive; "one", whose confirm may have been lost in the
        # cut, may come again as a duplicate, never anything else.
        assert "two" in rec.bodies, "a publish retried by autoretry() after a cut was lost"
        assert set(rec.bodies) <= {"one", "two"}, rec.bodies

    @requires("network")
    def test_stalled_network_then_resume(self, fault_proxy: Any) -> None:
        from kombu import Consumer

        direct = self.connection()
        queue = self.declared_queue(direct)
        proxied = self.connection(fault_proxy.url(self.url))
        rec = Recorder(ack=True)
        with Consumer(proxied.default_channel, [queue], callbacks=[rec]):
            self.publish(direct, queue, "first")
            self.collect(proxied, rec, 1)
            assert rec.bodies == ["first"]
            # The broker pushes while the network is stalled; nothing is read
            # from the stalled connection (a client without socket timeouts
            # would block), then the network recovers.
            fault_proxy.pause()
            self.publish(direct, queue, "during-stall")
            queue_on_direct = queue(direct.default_channel)
            assert queue_on_direct.queue_declare(passive=True) is not None
            fault_proxy.resume()
            self.collect(proxied, rec, 2)
        assert rec.bodies == ["first", "during-stall"]

    @requires("network")
    def test_connection_errors_are_typed_after_cut(self, fault_proxy: Any) -> None:
        from kombu import Consumer

        direct = self.connection()
        queue = self.declared_queue(direct)
        proxied = self.connection(fault_proxy.url(self.url))
        consumer = Consumer(proxied.default_channel, [queue], callbacks=[Recorder()])
        consumer.consume()
        fault_proxy.stop()  # the broker is gone: nothing accepts connections any more
        errors = tuple(proxied.connection_errors) + tuple(getattr(proxied, "recoverable_connection_errors", ()))
        raised: list[BaseException] = []
        for _ in range(20):
            try:
                proxied.drain_events(timeout=0.25)
            except TimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - checked just below
                raised.append(exc)
                break
        assert raised, "drain_events on a dead connection never raised"
        assert isinstance(raised[0], errors), f"{type(raised[0]).__name__} is not one of connection_errors {errors}"

    def drain_with(self, step: Any, until: Any, timeout: float) -> bool:
        """Call ``step()`` until ``until()`` holds or ``timeout`` passes."""
        import time

        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            step()
        return bool(until())
