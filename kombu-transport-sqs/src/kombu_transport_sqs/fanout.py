"""Fanout exchanges as SNS topics with SQS subscriptions (``supports_fanout``).

As in Kombu 5.7: one SNS topic per fanout exchange, named like a queue
(:func:`.naming.entity_name`, a ``.fifo`` exchange gives a FIFO topic);
each bound queue is subscribed with raw message delivery, so the SQS body
is the message envelope itself; the queue's access policy lets the topic
send to it. Unlike Kombu 5.7, queues are subscribed when bound (not when
first consumed), so messages published before a consumer starts are kept,
as on AMQP. Subscriptions live on the server: every process sees them.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

from kombu.exceptions import ChannelError

from .naming import is_fifo

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ("SnsFanout", "UndefinedExchangeException", "_SnsSubscription")


class UndefinedExchangeException(ChannelError):
    """A fanout exchange not listed in ``predefined_exchanges`` was used (Kombu 5.7's name)."""


class _SnsSubscription:
    """The queue side of a subscription (Kombu 5.7's class and method names)."""

    @staticmethod
    def _set_policy_on_sqs_queue(sqs: Any, queue_url: str, policy: dict[str, Any], topic_arn: str) -> None:
        """Store ``policy`` (letting ``topic_arn`` send) as the queue's access policy."""
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


class SnsFanout:
    """The SNS side of one connection's fanout exchanges."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._topics: dict[str, str] = {}
        self._subscriptions: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @property
    def sns(self) -> Any:
        return self.transport.clients.client("sns")

    def topic_arn(self, exchange: str) -> str:
        """The ARN of ``exchange``'s topic (created on first use unless predefined)."""
        arn = self._topics.get(exchange)
        if arn is not None:
            return arn
        predefined_exchanges = self.transport.settings.predefined_exchanges
        if predefined_exchanges:
            predefined = predefined_exchanges.get(exchange) or {}
            if not predefined.get("arn"):
                raise UndefinedExchangeException(
                    f"exchange {exchange!r} must be defined in the 'predefined_exchanges' "
                    "transport option (with its topic 'arn')"
                )
            arn = str(predefined["arn"])
        else:
            name = self.transport.sqs_name(exchange)
            attributes = {"FifoTopic": "true"} if is_fifo(name) else {}
            arn = str(self.sns.create_topic(Name=name, Attributes=attributes)["TopicArn"])
        with self._lock:
            self._topics[exchange] = arn
        return arn

    def _queue_arn(self, url: str) -> tuple[str, str | None]:
        """The queue's ARN and its access policy (JSON, if it has one)."""
        attrs = self.transport.clients.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "Policy"]
        )["Attributes"]
        return str(attrs["QueueArn"]), attrs.get("Policy")

    def subscribe(self, exchange: str, queue: str) -> str:
        """Subscribe ``queue`` to ``exchange``'s topic (idempotent); the subscription ARN."""
        key = (exchange, queue)
        arn = self._subscriptions.get(key)
        if arn is not None:
            return arn
        topic = self.topic_arn(exchange)
        url = self.transport.queue_url(queue)
        queue_arn, policy = self._queue_arn(url)
        self._allow_topic(url, queue_arn, topic, policy)
        arn = str(
            self.sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
        )
        with self._lock:
            self._subscriptions[key] = arn
        return arn

    def _allow_topic(self, url: str, queue_arn: str, topic: str, policy: str | None) -> None:
        doc: dict[str, Any] = json.loads(policy) if policy else {"Version": "2012-10-17"}
        found = doc.get("Statement") or []
        statements: list[Any] = [found] if isinstance(found, dict) else list(found)
        doc["Statement"] = statements
        sid = f"kombu-sns-{topic.rsplit(':', 1)[-1]}"[:100]
        if any(isinstance(s, dict) and s.get("Sid") == sid for s in statements):
            return
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "SQS:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": topic}},
            }
        )
        _SnsSubscription._set_policy_on_sqs_queue(self.transport.clients.client("sqs"), url, doc, topic)

    def unsubscribe(self, exchange: str, queue: str) -> None:
        """Remove ``queue``'s subscription to ``exchange``'s topic (if any)."""
        arn = self._subscriptions.pop((exchange, queue), None)
        if arn is None:
            arn = self._find_subscription(exchange, queue)
        if arn is not None:
            self.sns.unsubscribe(SubscriptionArn=arn)

    def _find_subscription(self, exchange: str, queue: str) -> str | None:
        try:
            url = self.transport.queue_url(queue, create=False)
        except Exception:  # noqa: BLE001 - no queue, no subscription
            return None
        queue_arn = self._queue_arn(url)[0]
        topic = self.topic_arn(exchange)
        paginator = self.sns.get_paginator("list_subscriptions_by_topic")
        for page in paginator.paginate(TopicArn=topic):
            for sub in page.get("Subscriptions", []):
                if sub.get("Endpoint") == queue_arn:
                    return str(sub["SubscriptionArn"])
        return None

    def publish(self, exchange: str, message: dict[str, Any]) -> None:
        """Publish ``message`` (the JSON envelope, as Kombu 5.7 does) to the topic."""
        props = message.get("properties") or {}
        params: dict[str, Any] = {"TopicArn": self.topic_arn(exchange)}
        attributes = props.get("message_attributes")
        if attributes:
            params["MessageAttributes"] = attributes
            message = {**message, "properties": {k: v for k, v in props.items() if k != "message_attributes"}}
        if is_fifo(exchange):
            params["MessageGroupId"] = str(props.get("MessageGroupId", "default"))
            params["MessageDeduplicationId"] = str(props.get("MessageDeduplicationId") or uuid.uuid4().hex)
        params["Message"] = json.dumps(message)
        self.sns.publish(**params)
