"""One customer managed KMS key per stack for its CloudWatch log groups (function logs, API access logs).

Logs hold request data (user ids, e-mail addresses in errors): a key of our own lets the account decide
who may decrypt them and disable them all at once. One key per stack ($1/month) serves every log group.
CloudWatch Logs itself encrypts and decrypts, so no function role needs KMS permissions; the key policy
admits the regional logs service for this stack's log groups only
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import IConstruct

KEY_ID = "LogsKey"


def logs_key(scope: IConstruct, removal_policy: RemovalPolicy) -> kms.Key:
    """The stack's log-group key, created on first use."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        KEY_ID,
        description=f"Encrypts the CloudWatch log groups of {stack.stack_name}",
        enable_key_rotation=True,
        removal_policy=removal_policy,
    )
    # CloudFormation names the log groups "<stack name>-<logical id>-<suffix>".
    log_groups = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{stack.stack_name}-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )
    return key
