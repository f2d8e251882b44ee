"""RabbitMQ's refusal of a publish (``Basic.Nack``) names the publish it belongs to, on both transports.

The refusing queue is an ``x-max-length=1`` queue with ``x-overflow=reject-publish``:
its first message fits, the second is nacked.
"""

from __future__ import annotations

import logging
import time

import pytest
from kombu import Connection, Exchange, Producer, Queue
from kombu_transport_amqp import PublishNacked
from kombu_transport_amqp._confirms import ConfirmWindow

from .conftest import AMQP_URL, URLS, fresh

TIMEOUT = 10.0


def client_nack_error(url: str) -> type[BaseException]:
    """The nack error Kombu 5-style code catches on each transport."""
    if url.startswith("pika://"):
        import pika.exceptions

        return pika.exceptions.NackError  # type: ignore[no-any-return]
    import amqp.exceptions

    return amqp.exceptions.MessageNacked  # type: ignore[no-any-return]


def refusing_setup(conn: Connection, names: list[str]) -> tuple[Exchange, Queue, Queue]:
    """An exchange with a full-after-one reject-publish queue (key ``key``) and a plain one (key ``other``)."""
    exchange = Exchange(fresh(names, "x"), "direct", durable=False)
    refusing = Queue(
        fresh(names), exchange, "key", durable=False, max_length=1, queue_arguments={"x-overflow": "reject-publish"}
    )
    plain = Queue(fresh(names), exchange, "other", durable=False)
    refusing(conn.default_channel).declare()
    plain(conn.default_channel).declare()
    return exchange, refusing, plain


def depth(conn: Connection, queue: Queue) -> int:
    return int(queue(conn.default_channel).queue_declare(passive=True)[1])


def assert_names_second_publish(error: PublishNacked, exchange: Exchange, later: bool) -> None:
    assert error.count == 1
    assert error.delivery_tag == 2
    assert error.exchange == exchange.name
    assert error.routing_key == "key"
    assert error.later is later
    assert [entry[:3] for entry in error.refused] == [(2, exchange.name, "key")]
    text = str(error)
    assert "delivery tag 2" in text and repr(exchange.name) in text and "'key'" in text


def test_confirm_publish_raises_the_nack_from_the_refused_publish_itself(url: str, names: list[str]) -> None:
    with Connection(url, transport_options={"confirm_publish": True, "confirm_timeout": 5}) as conn:
        exchange, refusing, _ = refusing_setup(conn, names)
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        producer.publish("fits")
        with pytest.raises(PublishNacked) as info:
            producer.publish("refused")
        assert isinstance(info.value, client_nack_error(url))
        assert_names_second_publish(info.value, exchange, later=False)
        assert depth(conn, refusing) == 1
        producer.publish("to the plain queue", routing_key="other")  # the channel goes on


#: The transports, and amqp:// on py-amqp's own code path (the confirms are read differently there).
WINDOWED_URLS = {**URLS, "amqp-public-path": AMQP_URL + "?client_fast_path=false"}


@pytest.mark.parametrize("url", list(WINDOWED_URLS.values()), ids=list(WINDOWED_URLS))
def test_windowed_nack_is_raised_by_a_later_publish_naming_the_refused_one(url: str, names: list[str]) -> None:
    with Connection(url) as conn:
        exchange, refusing, plain = refusing_setup(conn, names)
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        producer.publish("fits")
        sent_to_plain = 0
        error: PublishNacked | None = None
        try:
            producer.publish("refused")  # its confirm is read asynchronously ...
        except PublishNacked as exc:
            error = exc  # ... unless it came back while this publish looked at the socket
        deadline = time.monotonic() + TIMEOUT
        while error is None:
            assert time.monotonic() < deadline, "the nack was never raised"
            time.sleep(0.06)  # the window looks at the socket at least every 50 ms of publishing
            try:
                sent_to_plain += 1
                producer.publish(sent_to_plain, routing_key="other")
            except PublishNacked as exc:
                error = exc
        assert isinstance(error, client_nack_error(url))
        assert_names_second_publish(error, exchange, later=True)
        # The publish that raised it was itself sent (it is in the window).
        deadline = time.monotonic() + TIMEOUT
        while depth(conn, plain) < sent_to_plain:
            assert time.monotonic() < deadline, f"{depth(conn, plain)} of {sent_to_plain} publishes arrived"
            time.sleep(0.05)
        assert depth(conn, plain) == sent_to_plain
        assert depth(conn, refusing) == 1


def test_a_nack_pending_at_close_is_logged_naming_the_publish(
    url: str, names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with Connection(url) as conn:
        exchange, _, _ = refusing_setup(conn, names)
        producer = Producer(conn.default_channel, exchange=exchange, routing_key="key")
        producer.publish("fits")
        raised: PublishNacked | None = None
        with caplog.at_level(logging.WARNING, logger="kombu_transport_amqp"):
            try:
                producer.publish("refused")
            except PublishNacked as exc:  # the nack came back while this publish looked at the socket
                raised = exc
            conn.release()  # waits for the window's confirms
    warnings = [r.getMessage() for r in caplog.records if "RabbitMQ refused" in r.getMessage()]
    # Reported exactly once: by the publish itself (a fast broker) or, pending, at close.
    reports = warnings + ([str(raised)] if raised is not None else [])
    assert len(reports) == 1, reports
    assert "delivery tag 2" in reports[0] and repr(exchange.name) in reports[0]


# -- the window's bookkeeping (no broker) ---------------------------------------------------------


def _window(count: int) -> ConfirmWindow:
    window = ConfirmWindow()
    for n in range(1, count + 1):
        window.sent((f"m{n}", "ex", f"k{n}", False, False), 10)
    return window


@pytest.mark.nobroker
def test_refuse_one_tag_even_out_of_order() -> None:
    window = _window(4)
    assert window.refuse(3, multiple=False) == [(3, "ex", "k3", "m3")]
    assert window.confirm(2, multiple=True) == 3  # 1, 2 and the refused 3
    assert [entry[2] for entry in window.take()] == ["k4"]
    assert [tag for tag, *_ in window.take_refused()] == [3]
    assert window.take_refused() == []


@pytest.mark.nobroker
def test_refuse_multiple_skips_publishes_acked_out_of_order() -> None:
    window = _window(5)
    window.confirm(2, multiple=False)  # early ack of 2
    refused = window.refuse(3, multiple=True)
    assert [tag for tag, *_ in refused] == [1, 3]
    assert len(window) == 2 and window.nacked == 2
    assert window.refuse(9, multiple=False) == []  # not in the window: nothing to name
    error = PublishNacked(window.take_refused(), True)
    assert error.count == 2 and error.delivery_tag == 1 and error.routing_key == "k1"
    assert "delivery tag 3" in str(error) and "later call" in str(error)
