"""What the SQS transport promises beyond the kit: URL forms, names, plugin, delays, SNS fanout."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from .conftest import ENDPOINT, URL, boto_client, drain_until


@pytest.fixture
def uname() -> Iterator[str]:
    prefix = f"t-sem-{uuid.uuid4().hex[:8]}-"
    yield prefix
    client = boto_client()
    for url in client.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        client.delete_queue(QueueUrl=url)
    sns = boto_client("sns")
    for topic in sns.list_topics().get("Topics", []):
        if prefix in topic["TopicArn"]:
            sns.delete_topic(TopicArn=topic["TopicArn"])


def _collect(conn: Connection, queues: list[Queue], count: int, timeout: float = 15) -> list[Any]:
    got: list[Any] = []
    with Consumer(conn.channel(), queues, callbacks=[lambda b, m: (got.append(b), m.ack())]):
        drain_until(conn, lambda: len(got) >= count, timeout)
    return got


def test_plugin_and_import_load_no_client_library() -> None:
    code = (
        "import sys, kombu, kombu_transport_sqs.plugin as p; p.kombu_transports(); "
        "sys.exit(1 if 'boto3' in sys.modules or 'botocore' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_kombu5_module_path() -> None:
    import kombu.transport.SQS as sqs
    from kombu_transport_sqs import transport

    assert sqs.Transport is transport.Transport


def test_url_forms_and_password_masking() -> None:
    conn = Connection("sqs://AKID:s%2Fecret@127.0.0.1:5000")
    settings = conn.transport.settings
    assert (settings.access_key_id, settings.secret_access_key) == ("AKID", "s/ecret")
    assert settings.endpoint_url == "http://127.0.0.1:5000"
    assert "ecret" not in repr(conn) and "ecret" not in repr(settings)
    assert Connection("sqs://", transport_options={"is_secure": True}).transport.settings.endpoint_url is None
    secure = Connection("sqs://k:s@sqs.example:443", transport_options={"is_secure": True})
    assert secure.transport.settings.endpoint_url == "https://sqs.example:443"
    with pytest.raises(ValueError, match="wait_time_seconds"):
        Connection("sqs://", transport_options={"wait_time_seconds": 21}).transport  # noqa: B018


def test_unreachable_endpoint_is_a_connection_error() -> None:
    conn = Connection(
        "sqs://k:s@127.0.0.1:9",
        transport_options={"client-config": {"retries": {"max_attempts": 1}, "connect_timeout": 1}},
    )
    with pytest.raises(conn.connection_errors):
        conn.connect()


def test_celery_dotted_names_map_like_kombu(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    with Connection(URL, transport_options=opts) as conn:
        q = Queue("celery.pidbox@host!x", Exchange("celery.x", "direct"), routing_key="k")
        q(conn.channel()).declare()
        names = [u.rsplit("/", 1)[1] for u in boto_client().list_queues(QueueNamePrefix=uname).get("QueueUrls", [])]
    assert uname + "celery-pidbox_host_x" in names


def test_delayed_delivery(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("later", Exchange("later.x", "direct"), routing_key="later")
    with Connection(URL, transport_options=opts) as conn:
        Producer(conn.channel(), exchange=q.exchange).publish("late", routing_key="later", declare=[q], delay_seconds=3)
        Producer(conn.channel(), exchange=q.exchange).publish("now", routing_key="later")
        assert _collect(conn, [q], 1, timeout=1.5) == ["now"]
        start = time.monotonic()
        assert _collect(conn, [q], 1, timeout=10) == ["late"]
        assert time.monotonic() - start > 0.3  # it was held back, not there at once


def test_delay_over_900_seconds_is_delivered_in_hops(uname: str, monkeypatch: Any) -> None:
    """Delays over SQS's limit hop: an early copy is sent on with the remaining delay."""
    from kombu_transport_sqs import channel

    monkeypatch.setattr(channel, "MAX_DELAY_SECONDS", 1)  # hops of 1 s instead of 900 s
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("hops", Exchange("hops.x", "direct"), routing_key="hops")
    with Connection(URL, transport_options=opts) as conn:
        Producer(conn.channel(), exchange=q.exchange).publish(
            {"v": 1}, routing_key="hops", declare=[q], delay_seconds=4
        )
        assert _collect(conn, [q], 1, timeout=2.5) == []
        assert _collect(conn, [q], 1, timeout=10) == [{"v": 1}]


def test_sns_fanout_reaches_every_bound_queue_across_connections(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1, "supports_fanout": True}
    ex = Exchange("bcast", "fanout")
    q1, q2 = Queue("f1", ex), Queue("f2", ex)
    with Connection(URL, transport_options=opts) as conn:
        for q in (q1, q2):
            q(conn.channel()).declare()
        topics = [t["TopicArn"] for t in boto_client("sns").list_topics()["Topics"]]
        assert any(t.endswith(":" + uname + "bcast") for t in topics)
    # Another connection (as another process would) publishes without declaring.
    with Connection(URL, transport_options=opts) as other:
        Producer(other.channel(), exchange=ex).publish({"to": "all"}, routing_key="ignored")
    with Connection(URL, transport_options=opts) as conn:
        assert _collect(conn, [q1, q2], 2) == [{"to": "all"}] * 2


def _declare_elsewhere(opts: dict[str, Any], queue: Queue) -> None:
    """Declare ``queue``, its exchange and binding as another process would: this one forgets them."""
    from kombu_transport_sqs import transport

    with Connection(URL, transport_options=opts) as conn:
        queue(conn.channel()).declare()
        transport._STATES.pop(conn.transport._state_key, None)


def test_bindings_stored_on_the_server_route_for_a_fresh_process(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("errors", Exchange("logs", "topic"), routing_key="*.error")
    _declare_elsewhere(opts, q)
    code = (
        "import sys; from kombu import Connection, Exchange, Producer\n"
        f"with Connection({URL!r}, transport_options={opts!r}) as c:\n"
        "    p = Producer(c.channel(), exchange=Exchange('logs', 'topic'))\n"
        "    p.publish('boom', routing_key='db.error', declare=[])\n"
        "    p.publish('fine', routing_key='db.info', declare=[])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with Connection(URL, transport_options=opts) as conn:
        assert _collect(conn, [q], 2, timeout=4) == ["boom"]


def test_a_fresh_process_learns_a_stored_exchange_type(uname: str) -> None:
    """Passive declare, a conflicting redeclare and delete, through the engine's exchange-record hooks."""
    from kombu.exceptions import ChannelError
    from kombu.transport.virtual import NotEquivalentError
    from kombu_transport_sqs import transport

    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    _declare_elsewhere(opts, Queue("usd", Exchange("prices", "topic"), routing_key="stock.#"))
    with Connection(URL, transport_options=opts) as fresh:
        channel = fresh.channel()
        with pytest.raises(NotEquivalentError):  # RabbitMQ's PRECONDITION_FAILED
            channel.exchange_declare("prices", "direct")
        channel.exchange_declare("prices", passive=True)
        assert channel.typeof("prices").type == "topic"
        channel.exchange_delete("prices")
        transport._STATES.pop(fresh.transport._state_key)
    with Connection(URL, transport_options=opts) as after:
        with pytest.raises(ChannelError, match="NOT_FOUND"):
            after.channel().exchange_declare("prices", passive=True)


def test_endpoint_from_environment(monkeypatch: Any, uname: str) -> None:
    """With no host in the URL, boto3's own chain finds the endpoint and credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("envq", Exchange("envq.x", "direct"), routing_key="envq")
    with Connection("sqs://", transport_options=opts) as conn:
        Producer(conn.channel(), exchange=q.exchange).publish("hi", routing_key="envq", declare=[q])
        assert _collect(conn, [q], 1) == ["hi"]


def _count_calls(conn: Connection) -> list[str]:
    calls: list[str] = []
    conn.default_channel.sqs().meta.events.register("before-call.sqs.*", lambda model, **kw: calls.append(model.name))
    return calls


def test_publishes_leave_in_batches_and_are_on_sqs_after_close(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1, "batch_publish": True}
    q = Queue("batched", Exchange("batched.x", "direct"), routing_key="batched")
    with Connection(URL, transport_options=opts) as conn:
        q(conn.default_channel).declare()
        calls = _count_calls(conn)
        producer = Producer(conn.default_channel, exchange=q.exchange)
        for i in range(25):
            producer.publish(i, routing_key="batched")
    assert "SendMessage" not in calls
    assert 3 <= calls.count("SendMessageBatch") <= 25
    with Connection(URL, transport_options=opts) as conn:
        assert sorted(_collect(conn, [q], 25)) == list(range(25))


def test_publish_is_confirmed_one_by_one_by_default(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("single", Exchange("single.x", "direct"), routing_key="single")
    with Connection(URL, transport_options=opts) as conn:
        q(conn.default_channel).declare()
        calls = _count_calls(conn)
        producer = Producer(conn.default_channel, exchange=q.exchange)
        for i in range(3):
            producer.publish(i, routing_key="single")
        assert calls.count("SendMessage") == 3 and "SendMessageBatch" not in calls
        assert sorted(_collect(conn, [q], 3)) == [0, 1, 2]


def test_oversized_message_fails_at_publish(uname: str) -> None:
    from botocore.exceptions import ClientError

    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("big", Exchange("big.x", "direct"), routing_key="big")
    with Connection(URL, transport_options=opts) as conn:
        producer = Producer(conn.default_channel, exchange=q.exchange)
        producer.publish("small", routing_key="big", declare=[q])
        with pytest.raises(ClientError):
            producer.publish("x" * (1100 * 1024), routing_key="big")  # over SQS's 1 MiB
        assert _collect(conn, [q], 2, timeout=3) == ["small"]


def test_forked_child_does_not_resend_the_parents_window(uname: str) -> None:
    import os

    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    q = Queue("forked", Exchange("forked.x", "direct"), routing_key="forked")
    with Connection(URL, transport_options=opts) as conn:
        q(conn.default_channel).declare()
        window = conn.transport.publisher
        window.put("http://unused.invalid/q", {"MessageBody": "parent's"})  # still unsent
        pid = os.fork()
        if pid == 0:  # the child: its copy of the window is empty
            os._exit(0 if len(conn.transport.publisher) == 0 else 1)
        _, status = os.waitpid(pid, 0)
        window._pending.clear()
        window._inflight = 0
    assert os.waitstatus_to_exitcode(status) == 0


def test_fetch_message_attributes_and_message_attributes(uname: str) -> None:
    opts = {
        "queue_name_prefix": uname,
        "wait_time_seconds": 1,
        "fetch_message_attributes": {
            "MessageSystemAttributeNames": ["SentTimestamp"],
            "MessageAttributeNames": ["All"],
        },
    }
    q = Queue("attrs", Exchange("attrs.x", "direct"), routing_key="attrs")
    got: list[Any] = []
    with Connection(URL, transport_options=opts) as conn:
        Producer(conn.default_channel, exchange=q.exchange).publish(
            "a",
            routing_key="attrs",
            declare=[q],
            message_attributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )
        with Consumer(conn.channel(), [q], callbacks=[lambda b, m: (got.append(m), m.ack())]):
            drain_until(conn, lambda: bool(got), 10)
    record = got[0].delivery_info["sqs_message"]
    assert {"SentTimestamp", "ApproximateReceiveCount"} <= set(record["Attributes"])
    assert record["MessageAttributes"]["origin"]["StringValue"] == "test"
    assert "message_attributes" not in got[0].properties


def test_sts_role_credentials(uname: str) -> None:
    opts = {
        "queue_name_prefix": uname,
        "wait_time_seconds": 1,
        "sts_role_arn": "arn:aws:iam::123456789012:role/kombu",
        "sts_token_timeout": 900,
    }
    q = Queue("sts", Exchange("sts.x", "direct"), routing_key="sts")
    with Connection(URL, transport_options=opts) as conn:
        client = conn.default_channel.sqs()
        assert client._request_signer._credentials.token  # temporary credentials
        Producer(conn.default_channel, exchange=q.exchange).publish("r", routing_key="sts", declare=[q])
        assert _collect(conn, [q], 1) == ["r"]


def test_predefined_queues_with_a_named_exchange(uname: str) -> None:
    """Only the predefined queues are used: nothing else is created (no binding table)."""
    client = boto_client()
    url = client.create_queue(QueueName=uname + "jobs")["QueueUrl"]
    opts = {"wait_time_seconds": 1, "predefined_queues": {"jobs": {"url": url}}}
    q = Queue("jobs", Exchange(uname + "x", "direct"), routing_key="jobs")
    with Connection(URL, transport_options=opts) as conn:
        Producer(conn.default_channel, exchange=q.exchange).publish("p", routing_key="jobs", declare=[q])
        assert _collect(conn, [q], 1) == ["p"]
        with pytest.raises(Exception, match="predefined_queues"):
            Queue("other")(conn.default_channel).declare()
    assert client.list_queues(QueueNamePrefix=uname).get("QueueUrls") == [url]
    assert not client.list_queues(QueueNamePrefix="kombu-bindings-" + uname).get("QueueUrls")


def test_exchange_name_too_long_for_a_binding_table_routes_in_process(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 1}
    ex = Exchange("e" * 60, "direct")  # prefix + kombu-bindings- + 60 > 80 characters
    q = Queue("longex", ex, routing_key="k")
    with Connection(URL, transport_options=opts) as conn:
        Producer(conn.default_channel, exchange=ex).publish("in-process", routing_key="k", declare=[q])
        assert _collect(conn, [q], 1) == ["in-process"]


CONSUMER = r"""
import sys, time
from kombu import Connection, Consumer, Exchange, Queue
url, opts, name, seconds = sys.argv[1], eval(sys.argv[2]), sys.argv[3], float(sys.argv[4])
q = Queue(name, Exchange(name + ".x", "direct"), routing_key=name, expires=2)
with Connection(url, transport_options=opts) as conn:
    with Consumer(conn.channel(), [q], callbacks=[lambda b, m: m.ack()]):
        print("CONSUMING", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                pass
"""


def test_queue_consumed_by_another_process_does_not_expire_then_does(uname: str) -> None:
    opts = {"queue_name_prefix": uname, "wait_time_seconds": 10}
    name = "expiring"
    q = Queue(name, Exchange(name + ".x", "direct"), routing_key=name, expires=2)
    with Connection(URL, transport_options=opts) as conn:
        q(conn.default_channel).declare()
        proc = subprocess.Popen(
            [sys.executable, "-c", CONSUMER, URL, repr(opts), name, "6"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "CONSUMING"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # 2.5x its expiry, consumed elsewhere
                assert q(conn.channel()).queue_declare(passive=True) is not None
                time.sleep(0.5)
        finally:
            proc.wait(30)
        gone = False
        deadline = time.monotonic() + 10
        while not gone and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                q(conn.channel()).queue_declare(passive=True)
            except conn.channel_errors:
                gone = True
    assert gone, "an unused queue did not expire"


def test_predefined_exchange_topic(uname: str) -> None:
    from kombu_transport_sqs.fanout import UndefinedExchangeException

    arn = boto_client("sns").create_topic(Name=uname + "given")["TopicArn"]
    opts = {
        "queue_name_prefix": uname,
        "wait_time_seconds": 1,
        "supports_fanout": True,
        "predefined_exchanges": {"given": {"arn": arn}},
    }
    ex = Exchange("given", "fanout")
    q = Queue("given-q", ex)
    with Connection(URL, transport_options=opts) as conn:
        q(conn.default_channel).declare()
        Producer(conn.default_channel, exchange=ex).publish("via topic", routing_key="")
        assert _collect(conn, [q], 1) == ["via topic"]
        with pytest.raises(UndefinedExchangeException):
            Queue("other-q", Exchange("other", "fanout"))(conn.default_channel).declare()
