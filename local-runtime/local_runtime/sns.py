"""SNS subscriptions from the templates: SQS ones delivered by moto itself (filter policies on attributes
or body, raw delivery), Lambda ones through an internal queue subscribed with the same filter policy, so
moto's matcher decides here too, then invoked asynchronously with Lambda's SNS event. HTTP(S) endpoints on
this machine are subscribed in moto, which POSTs to them; e-mail, SMS and remote endpoints are noted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from local_runtime.polling import Holds
from local_runtime.templates import App

log = logging.getLogger("local_runtime.sns")
INTERNAL_QUEUE_PREFIX = "local-runtime-sns-"
# Subscription attributes moto takes at Subscribe (the rest, e.g. DeliveryPolicy, do not change delivery).
_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")


@dataclass
class Subscription:
    logical_id: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def dead_letter_arn(self) -> str | None:
        policy = self.attributes.get("RedrivePolicy")
        return json.loads(policy).get("deadLetterTargetArn") if policy else None


def subscriptions_from(app: App) -> list[Subscription]:
    found = []
    for stack, logical_id, resource in app.all_resources("AWS::SNS::Subscription"):
        props = app.resolve(stack, resource.get("Properties", {}))
        attributes = {}
        for key in _ATTRIBUTES:
            value = props.get(key)
            if isinstance(value, dict):
                attributes[key] = json.dumps(value)
            elif isinstance(value, bool):
                attributes[key] = "true" if value else "false"
            elif value is not None:
                attributes[key] = str(value)
        found.append(
            Subscription(
                logical_id, str(props["TopicArn"]), str(props["Protocol"]), str(props["Endpoint"]), attributes
            )
        )
    for stack, logical_id, resource in app.all_resources("AWS::SNS::Topic"):
        props = app.resolve(stack, resource.get("Properties", {}))
        for index, inline in enumerate(props.get("Subscription") or []):
            topic = str(app.ref(stack, logical_id))
            found.append(
                Subscription(
                    f"{logical_id}[{index}]", topic, str(inline["Protocol"]), str(inline["Endpoint"])
                )
            )
    return found


def lambda_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """Lambda's SNS event from the notification SNS sends (its URL keys are spelled differently)."""
    sns = {
        "Type": envelope.get("Type", "Notification"),
        "MessageId": envelope["MessageId"],
        "TopicArn": envelope["TopicArn"],
        "Subject": envelope.get("Subject"),
        "Message": envelope["Message"],
        "Timestamp": envelope["Timestamp"],
        "SignatureVersion": envelope.get("SignatureVersion", "1"),
        "Signature": envelope.get("Signature", ""),
        "SigningCertUrl": envelope.get("SigningCertURL", ""),
        "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
        "MessageAttributes": envelope.get("MessageAttributes", {}),
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }


class SnsDelivery:
    def __init__(
        self,
        subscriptions: list[Subscription],
        sns_client: Callable[[], Any],
        sqs_client: Callable[[], Any],
        invoke_async: Callable[[str, Any, str], Any],
        may_invoke: Callable[[str, str], bool],
        function_arns: Container[str],
        may_send: Callable[[str, str], bool] | None = None,
        wait_s: float = 1.0,
    ) -> None:
        self.subscriptions = subscriptions
        self._sns, self._sqs = sns_client, sqs_client
        self._invoke_async = invoke_async
        self._may_invoke = may_invoke
        self.function_arns = function_arns
        self._may_send = may_send  # (queue ARN, topic ARN) -> the queue's policy lets SNS send to it
        self.wait_s = wait_s
        self.notes: list[str] = []
        self._stop = threading.Event()
        self._holds = Holds(self._stop)
        self._made: list[str] = []  # subscription ARNs this delivery created in moto
        self._queues: list[str] = []

    def start(self) -> None:
        sns = self._sns()
        for subscription in self.subscriptions:
            protocol = subscription.protocol.lower()
            if (
                protocol == "sqs"
                and self._may_send
                and not self._may_send(subscription.endpoint, subscription.topic_arn)
            ):
                self.notes.append(
                    f"{subscription.logical_id}: the queue policy of {subscription.endpoint} does not let "
                    f"sns.amazonaws.com send from {subscription.topic_arn}: SNS's deliveries fail, as in AWS"
                )
                continue
            if protocol == "sqs" or (protocol in ("http", "https") and _local(subscription.endpoint)):
                arn = sns.subscribe(
                    TopicArn=subscription.topic_arn,
                    Protocol=protocol,
                    Endpoint=subscription.endpoint,
                    Attributes=subscription.attributes,
                    ReturnSubscriptionArn=True,
                )["SubscriptionArn"]
                self._made.append(arn)
            elif protocol == "lambda":
                self._lambda(sns, subscription)
            else:
                self.notes.append(
                    f"{subscription.logical_id}: {protocol} subscription to {subscription.endpoint} is not "
                    "delivered locally (e-mail, SMS and endpoints off this machine)"
                )

    def _lambda(self, sns: Any, subscription: Subscription) -> None:
        """An internal queue subscribed with the subscription's filter, drained into async invocations."""
        sqs = self._sqs()
        digest = hashlib.sha256(f"{subscription.topic_arn}|{subscription.endpoint}".encode()).hexdigest()[:16]
        url = sqs.create_queue(QueueName=f"{INTERNAL_QUEUE_PREFIX}{digest}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {
            k: v for k, v in subscription.attributes.items() if k in ("FilterPolicy", "FilterPolicyScope")
        }
        arn = sns.subscribe(
            TopicArn=subscription.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._made.append(arn)
        self._queues.append(url)
        threading.Thread(
            target=self._drain,
            args=(subscription, url, arn),
            name=f"sns-{subscription.logical_id}",
            daemon=True,
        ).start()

    def _drain(self, subscription: Subscription, url: str, subscription_arn: str) -> None:
        sqs = self._sqs()
        function = subscription.endpoint.split(":function:")[0] + ":function:"
        function += subscription.endpoint.split(":function:")[-1].split(":")[0]
        topic_name = subscription.topic_arn.rsplit(":", 1)[-1]
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=int(self.wait_s)
                ).get("Messages", [])
                if not messages or not self._holds.hold(sqs, url, messages):
                    continue
                done: list[dict[str, str]] = []
                try:
                    for message in messages:
                        envelope = json.loads(message["Body"])
                        self._deliver(subscription, function, envelope, subscription_arn, topic_name)
                        done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
                finally:
                    if done:
                        sqs.delete_message_batch(QueueUrl=url, Entries=done)
                    self._holds.let_go()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("SNS delivery for %s failed", subscription.logical_id)
                self._stop.wait(1)

    def _deliver(
        self, subscription: Subscription, function: str, envelope: dict[str, Any], arn: str, topic: str
    ) -> None:
        """SNS invokes the function asynchronously; without the function or its permission the delivery
        fails and, after SNS's retries, goes to the subscription's DLQ if it has one."""
        if function in self.function_arns and self._may_invoke(function, subscription.topic_arn):
            self._invoke_async(function, lambda_event(envelope, arn), f"sns {topic}")
            return
        why = (
            "no such function" if function not in self.function_arns else "no AWS::Lambda::Permission for SNS"
        )
        log.warning("%s: SNS cannot deliver to %s (%s)", subscription.logical_id, function, why)
        dlq = subscription.dead_letter_arn
        if dlq:
            sqs = self._sqs()
            url = sqs.get_queue_url(QueueName=dlq.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(envelope))

    def stop(self) -> None:
        """Waits for the deliveries in progress, not for long polls (polling.py)."""
        self._stop.set()
        self._holds.wait(5)

    def remove(self) -> None:
        """After a redeploy: the subscriptions and internal queues this delivery made are deleted."""
        sns, sqs = self._sns(), self._sqs()
        for arn in self._made:
            sns.unsubscribe(SubscriptionArn=arn)
        for url in self._queues:
            sqs.delete_queue(QueueUrl=url)


def _local(endpoint: str) -> bool:
    return (urlsplit(endpoint).hostname or "") in ("localhost", "127.0.0.1")
