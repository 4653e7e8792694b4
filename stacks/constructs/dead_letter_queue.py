"""A dead-letter queue: encrypted, SSL only, 14 days' retention; its own nag findings acknowledged."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def dead_letter_queue(
    scope: Construct, construct_id: str, *, holds: str, removal_policy: RemovalPolicy
) -> sqs.Queue:
    """A queue that holds `holds` (e.g. "upload_indexer's failed asynchronous invocations")."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        removal_policy=removal_policy,
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-SQS3",
            reason=f"This queue is itself a dead-letter queue: it holds {holds}.",
        ),
        Acknowledgment(
            id="Serverless::Serverless-SQSRedrivePolicy",
            reason=f"This queue is itself a dead-letter queue (it holds {holds}); its messages are "
            "inspected and redriven by an operator, not by another queue.",
        ),
    )
    return queue
