"""A dead-letter queue: encrypted, SSL only, 14 days' retention; its own nag findings acknowledged."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs.checkov_skips import skip_checks

# Every queue of the service: SSE-SQS, which checkov 3 does not recognise (it looks for KmsMasterKeyId).
SQS_MANAGED_ENCRYPTION_SKIP = {
    "CKV_AWS_27": "Encrypted at rest with SQS-managed SSE (SqsManagedSseEnabled). A KMS key would have to "
    "admit EventBridge, SNS and every producer and consumer role in its policy, at KMS request cost.",
}


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
    skip_checks(queue, SQS_MANAGED_ENCRYPTION_SKIP)
    return queue
