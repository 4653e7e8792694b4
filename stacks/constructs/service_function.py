"""ServiceFunction: the one way this service defines a Lambda function.

arm64, the newest Python runtime, X-Ray tracing, its own log group, Powertools settings, the shared
layers, code from its own folder under functions/ only, and a role that starts with nothing but
its own log group: every other permission is granted explicitly with `allow`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Acknowledgment, CfnResource, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.checkov_skips import skip_checks
from stacks.constructs.log_encryption import logs_key
from stacks.constructs.nag_ids import weak_reference

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ASSET_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache"]
# Lambda's level names for the stage's logLevel. With JSON logs Lambda drops records below the
# application log level, INFO when unset, so DEBUG needs it set
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
APPLICATION_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}
# The runtime's own records (START/END/REPORT...) go no higher than WARN.
SYSTEM_LOG_LEVELS = {
    "DEBUG": lambda_.SystemLogLevel.DEBUG,
    "INFO": lambda_.SystemLogLevel.INFO,
    "WARNING": lambda_.SystemLogLevel.WARN,
    "ERROR": lambda_.SystemLogLevel.WARN,
}


class ServiceFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        folder: str,
        description: str,
        config: StageConfig,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str] | None = None,
        timeout: Duration,
        memory_size: int,
        dead_letter_queue: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        code_dir = FUNCTIONS_DIR / folder
        if not (code_dir / "handler.py").is_file():
            raise ValueError(f"functions/{folder}/handler.py does not exist")

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
            encryption_key=logs_key(self, config.removal_policy),
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id}: its own logs plus the grants listed in the service stack",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDES),
            layers=list(layers),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=APPLICATION_LOG_LEVELS[config.log_level],
            system_log_level_v2=SYSTEM_LOG_LEVELS[config.log_level],
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "POWERTOOLS_SERVICE_NAME": config.service,
                "POWERTOOLS_METRICS_NAMESPACE": f"{config.service.capitalize()}/{config.stage_title}",
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                **(environment or {}),
            },
        )
        self._depend_only_on_role_policy()
        if dead_letter_queue is not None:
            self._send_async_failures_to(dead_letter_queue)
        # Async invokers (S3, EventBridge) must pass a dead-letter queue; for the others it never applies.
        if dead_letter_queue is None:
            Validations.of(self.function).acknowledge(
                Acknowledgment(
                    id="Serverless::Serverless-LambdaDLQ",
                    reason="Invoked synchronously (API Gateway) or by an SQS event source whose queue "
                    "redrives to its own DLQ; Lambda's async dead-letter target never applies.",
                )
            )
        skip_checks(
            self.function,
            {
                "CKV_AWS_117": "No VPC: the function reaches only AWS APIs (DynamoDB, SQS, S3, EventBridge) "
                "over TLS with IAM auth; a VPC would add NAT or endpoint cost and cold-start latency.",
                "CKV_AWS_173": "Environment variables hold only resource names, URLs and settings, never "
                "secrets; Lambda encrypts them at rest with its AWS managed key.",
            },
        )
        if dead_letter_queue is None:
            skip_checks(
                self.function,
                {
                    "CKV_AWS_116": "Invoked synchronously (API Gateway) or by an SQS event source whose "
                    "queue redrives to its own DLQ; Lambda's async dead-letter target never applies."
                },
            )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level "
                "permissions; AWS requires Resource '*' for active tracing.",
            )
        )

    def _depend_only_on_role_policy(self) -> None:
        # CDK also renders DependsOn the role, already implied by the GetAtt (cfn-lint W3005);
        # the function must still wait for its policy so its first invocations are authorised.
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        function = self.function.node.default_child
        assert isinstance(policy, CfnResource) and isinstance(function, CfnResource)
        function.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])

    def _send_async_failures_to(self, queue: sqs.IQueue) -> None:
        # lambda.Function(dead_letter_queue=...) also grants sqs:GetQueueAttributes/GetQueueUrl; Lambda
        # only needs sqs:SendMessage on the queue to deliver a failed asynchronous event.
        function = self.function.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=queue.queue_arn)
        self.allow(["sqs:SendMessage"], [queue.queue_arn])

    def allow(self, actions: Sequence[str], resources: Sequence[str]) -> None:
        """Grant exactly these actions on exactly these resources (no wildcard actions)."""
        if any("*" in action for action in actions):
            raise ValueError(f"Wildcard actions are not allowed: {list(actions)}")
        self.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=list(resources)))

    def allow_listing(self, bucket: s3.IBucket, prefix: str) -> None:
        """Grant s3:ListBucket on `bucket`, only for listings under `prefix` (s3:prefix condition).

        Without ListBucket, S3 answers a GET/HEAD of a missing key with 403 instead of 404
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html); S3 evaluates that
        ListBucket check with the requested key as s3:prefix, so the grant stays scoped to `prefix`.
        """
        if not prefix.endswith("/") or "*" in prefix:
            raise ValueError(f"prefix must be a folder like 'uploads/', got {prefix!r}")
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            )
        )

    def allow_objects(self, actions: Sequence[str], bucket: s3.IBucket, prefix: str) -> None:
        """Grant object actions on exactly `prefix*` in `bucket` (another stack's bucket).

        Object permissions name keys, so a key prefix needs the one inherent wildcard; its cdk-nag
        IAM5 finding is acknowledged for exactly that resource and nothing else.
        """
        if not prefix.endswith("/") or "*" in prefix:
            raise ValueError(f"prefix must be a folder like 'uploads/', got {prefix!r}")
        self.allow(actions, [bucket.arn_for_objects(f"{prefix}*")])
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::{weak_reference(bucket, 'Arn')}/{prefix}*]",
                reason=f"{', '.join(actions)} are object-level actions: scoping them to the "
                f"{prefix} key prefix needs the wildcard after it; no other key is allowed.",
            )
        )
