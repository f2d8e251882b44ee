"""Celery 5.7.0 with a quorum queue on RabbitMQ: countdown/ETA tasks wait in the broker.

Celery sends them to ``celery_delayed_27`` with the delay in the routing key
(:mod:`kombu.transport.native_delayed_delivery`); the worker declares the
tree and binds its queue at start. The worker does not hold such a task: it
receives it when it is due. The tree is the broker-wide one Celery on Kombu
5.7 uses (quorum queues, default names), so both can share a broker.
"""

from __future__ import annotations

# A delayed message's lateness is the broker's: expiry at the head of each level's quorum queue,
# then at-least-once dead-lettering, once per level the delay passes through. Typically +10 ms;
# the first use of a level and a loaded machine add up to about a second (Kombu 5.7.0 measures
# the same on this broker), and 1.6 s was seen with the whole suite running on 2 cores.
# Still well under a second pass through the levels, which is what a client-side bug would add.
BROKER_DELAYED = 2.5


def test_countdown_waits_in_the_broker_and_runs_on_time(quorum):
    out = quorum.client.call("scheduled_countdown", node=quorum.node, seconds=3)
    assert out["id"] not in out["held"], "the worker holds the task: it was not delayed by the broker"
    assert 3 - 0.05 <= out["after"] <= 3 + BROKER_DELAYED, f"countdown=3 ran after {out['after']:.3f} s"


def test_eta_on_time(quorum):
    late_by = quorum.client.call("eta", seconds=2)
    assert -0.05 <= late_by <= BROKER_DELAYED, f"ran {late_by:+.3f} s from its ETA"


def test_delay_get(quorum):
    assert quorum.client.call("delay_get") == 5
