"""Stateful resources: everything here holds data and is protected in prod."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Aws, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.checkov_skips import cdk_provider_function_skips, skip_checks
from stacks.constructs.dead_letter_queue import SQS_MANAGED_ENCRYPTION_SKIP, dead_letter_queue

# OrdersTable's index of orders by day ("YYYY-MM-DD"), sorted by creation time: the daily report's read.
ORDERS_BY_DATE_INDEX = "byOrderDate"
# OrdersTable's index of a user's orders, newest first (createdAt): GET /orders.
ORDERS_BY_USER_INDEX = "byUser"
# FilesTable's index of a user's indexed uploads, newest first (uploadedAt): GET /files.
FILES_BY_USER_INDEX = "byUser"


@dataclass(frozen=True)
class Gsi:
    """A global secondary index of string keys, projecting all attributes."""

    name: str
    partition_key: str
    sort_key: str | None = None


# The rule (service stack) that feeds OrderCreated events to the projection. Its name is fixed (per
# stage) so this stack can allow exactly that rule, by ARN, to dead-letter into the projection DLQ
# without a reference back to the service stack (which would make the two stacks depend on each other).
ORDER_CREATED_RULE = "OrderCreatedToProjection"
MAX_RECEIVES_BEFORE_DLQ = 3
# Members of this user pool group may list and read every user (GET /users, GET /users/{id}).
ADMINS_GROUP = "admins"


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self._auth(config)
        self.users_table = self._table("UsersTable", partition_key="userId", config=config)
        self._orders(config)
        self._uploads(config)
        self._reports(config)
        self._drop_implied_depends_on()

    # --- auth: UserPool (sign-in by e-mail) + the API's app client + the admins group -----------------
    def _auth(self, config: StageConfig) -> None:
        auth = config.user_pool
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=config.stack_name("Users"),
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa[auth.mfa],
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, adaptive authentication) needs the Plus plan.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode[auth.threat_protection],
            email=self._user_pool_email(config),
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal_policy,
        )
        if auth.mfa != "REQUIRED":
            Validations.of(self.user_pool).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-COG2",
                    reason=f"MFA is {auth.mfa} in stage {config.stage} (cdk.json userPool.mfa): users "
                    "may enrol a TOTP app; threat protection challenges risky sign-ins.",
                )
            )
        # A public client (no secret) for the web/mobile app; SRP keeps passwords off the wire.
        self.user_pool_client = self._app_client(
            "ApiClient", cognito.AuthFlow(user_srp=True), refresh=Duration.days(30), revocable=True
        )
        if auth.test_client:
            # Admin password sign-in needs AWS credentials: only the e2e suite (deploy role) can use it.
            self.test_client = self._app_client(
                "E2eClient", cognito.AuthFlow(admin_user_password=True), refresh=Duration.hours(1)
            )
            CfnOutput(self, "E2eClientId", value=self.test_client.user_pool_client_id)
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        self.admins_group = cognito.CfnUserPoolGroup(
            self,
            "AdminsGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=ADMINS_GROUP,
            description="May list and read every user",
            precedence=0,
        )

    def _app_client(
        self, construct_id: str, flows: cognito.AuthFlow, *, refresh: Duration, revocable: bool = False
    ) -> cognito.UserPoolClient:
        """A public app client (no secret, no OAuth) issuing 1-hour ID and access tokens."""
        return self.user_pool.add_client(
            construct_id,
            auth_flows=flows,
            generate_secret=False,
            prevent_user_existence_errors=True,
            enable_token_revocation=revocable or None,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=refresh,
            disable_o_auth=True,
        )

    @staticmethod
    def _user_pool_email(config: StageConfig) -> cognito.UserPoolEmail:
        email = config.email
        if email.sender == "cognito":
            return cognito.UserPoolEmail.with_cognito()
        assert email.from_email is not None  # EmailSettings requires it for SES
        return cognito.UserPoolEmail.with_ses(
            from_email=str(email.from_email),
            from_name=email.from_name,
            reply_to=str(email.reply_to) if email.reply_to else None,
            ses_verified_domain=email.ses_verified_domain,
            # SES in the stack's own region unless the stage names another one.
            ses_region=email.ses_region or Aws.REGION,
        )

    # --- orders: table, queue + DLQ, idempotency records, event bus, projection DLQ -------------------
    def _orders(self, config: StageConfig) -> None:
        # The daily report reads one day's orders through the byOrderDate index (no scan), GET /orders a
        # user's through byUser. Adding an index updates the table in place (one new GSI per table per
        # deployment: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html).
        self.orders_table = self._table(
            "OrdersTable",
            partition_key="orderId",
            config=config,
            indexes=[
                Gsi(ORDERS_BY_DATE_INDEX, partition_key="orderDate", sort_key="createdAt"),
                Gsi(ORDERS_BY_USER_INDEX, partition_key="userId", sort_key="createdAt"),
            ],
        )
        # Powertools idempotency records (key attribute `id`, TTL attribute `expiration`).
        self.idempotency_table = self._table(
            "IdempotencyTable", partition_key="id", config=config, time_to_live_attribute="expiration"
        )
        self.orders_dlq = self._dead_letter_queue(
            "OrdersDLQ", "orders that failed 3 receives from OrdersQueue (redrive policy)"
        )
        self.orders_queue = self._queue(
            "OrdersQueue",
            visibility_timeout=Duration.seconds(config.orders_queue.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.orders_dlq, max_receive_count=MAX_RECEIVES_BEFORE_DLQ
            ),
        )
        # Named per stage: CloudFormation's generated name ("DataOrdersBus…") is the same in every
        # stage, and a second stage in the account would fail with "already exists".
        self.orders_bus = events.EventBus(
            self,
            "OrdersBus",
            event_bus_name=config.stack_name("Events"),
            description=f"{config.service} ({config.stage}) domain events",
        )
        self.orders_bus.apply_removal_policy(config.removal_policy)
        # Where OrderCreated events end up when the projection cannot take them: EventBridge's target
        # DLQ (delivery failed) and the projection function's async DLQ (it failed after its retries).
        self.projection_dlq = self._dead_letter_queue(
            "OrderProjectionDLQ",
            "OrderCreated events the projection could not take (EventBridge target DLQ and "
            "order_projection's async DLQ)",
        )
        self.projection_dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrderCreatedRuleDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.projection_dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.order_created_rule_arn}},
            )
        )

    @property
    def order_created_rule_name(self) -> str:
        return self._config.stack_name(ORDER_CREATED_RULE)

    @property
    def order_created_rule_arn(self) -> str:
        return self.format_arn(
            service="events",
            resource="rule",
            resource_name=f"{self.orders_bus.event_bus_name}/{self.order_created_rule_name}",
        )

    def _queue(self, construct_id: str, **props) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=self._config.removal_policy,
            **props,
        )
        skip_checks(queue, SQS_MANAGED_ENCRYPTION_SKIP)
        return queue

    # --- uploads: UploadsBucket (+ its access logs) → upload_indexer → FilesTable -----------------

    def _uploads(self, config: StageConfig) -> None:
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption S3 server access logs support
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(365),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
            **self._removal(config),
        )
        skip_checks(
            self.access_logs_bucket,
            {
                "CKV_AWS_18": "This is the access-log bucket the other buckets log to; logging its own "
                "access would log into itself or need yet another bucket.",
            },
        )
        self.uploads_bucket = s3.Bucket(
            self,
            "UploadsBucket",
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.PUT],
                    allowed_origins=config.cors_allow_origins,
                    allowed_headers=["Content-Type", "Content-Length"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            **self._bucket_protections("uploads/", config),
        )
        # Sparse byUser index: only objects under uploads/<userId>/ carry a userId (upload_indexer).
        self.files_table = self._table(
            "FilesTable",
            partition_key="fileKey",
            config=config,
            indexes=[Gsi(FILES_BY_USER_INDEX, partition_key="userId", sort_key="uploadedAt")],
        )
        self.upload_indexer_dlq = self._dead_letter_queue(
            "UploadIndexerDlq", "upload_indexer's failed asynchronous (S3 notification) invocations"
        )

    # --- daily report: schedule → daily_report → OrdersTable (GSI byOrderDate) → ReportsBucket -----

    def _reports(self, config: StageConfig) -> None:
        self.reports_bucket = s3.Bucket(self, "ReportsBucket", **self._bucket_protections("reports/", config))
        self.daily_report_dlq = self._dead_letter_queue(
            "DailyReportDlq",
            "daily_report's failed scheduled runs (Lambda async failures and undeliverable events)",
        )
        # The schedule's rule lives in the service stack; naming its ARN here keeps the stacks acyclic.
        self.daily_report_rule_name = f"{config.stack_name('DailyReport')}"
        self.daily_report_dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowDailyReportScheduleDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.daily_report_dlq.queue_arn],
                conditions={
                    "ArnEquals": {
                        "aws:SourceArn": self.format_arn(
                            service="events", resource="rule", resource_name=self.daily_report_rule_name
                        )
                    }
                },
            )
        )

    def _drop_implied_depends_on(self) -> None:
        # The only functions in this stack are CDK's own (auto-delete of bucket objects). CDK renders
        # DependsOn their role, already implied by the Role GetAtt (cfn-lint W3005).
        for child in self.node.find_all():
            if isinstance(child, CfnResource) and child.cfn_resource_type == "AWS::Lambda::Function":
                child.add_deletion_override("DependsOn")
                skip_checks(child, cdk_provider_function_skips("emptying buckets on stack deletion"))

    # --- building blocks ---------------------------------------------------------------------------

    def _bucket_protections(self, log_prefix: str, config: StageConfig) -> dict:
        return {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "encryption": s3.BucketEncryption.S3_MANAGED,
            "enforce_ssl": True,
            "versioned": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "server_access_logs_bucket": self.access_logs_bucket,
            "server_access_logs_prefix": log_prefix,
            "lifecycle_rules": [
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            **self._removal(config),
        }

    @staticmethod
    def _removal(config: StageConfig) -> dict:
        # CloudFormation cannot delete a bucket that holds objects (or versions): a stage that is torn
        # down empties its buckets first (CDK's auto-delete custom resource), one that is kept retains them.
        destroy = config.removal_policy == RemovalPolicy.DESTROY
        return {"removal_policy": config.removal_policy, "auto_delete_objects": destroy}

    def _dead_letter_queue(self, construct_id: str, holds: str) -> sqs.Queue:
        return dead_letter_queue(self, construct_id, holds=holds, removal_policy=self._config.removal_policy)

    def _table(
        self,
        construct_id: str,
        *,
        partition_key: str,
        config: StageConfig,
        time_to_live_attribute: str | None = None,
        indexes: Sequence[Gsi] = (),
    ) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal_policy,
            time_to_live_attribute=time_to_live_attribute,
        )
        skip_checks(
            table,
            {
                "CKV_AWS_119": "Encrypted at rest with the AWS managed key aws/dynamodb; a customer managed "
                "key adds $1/month per key, KMS request cost and key-policy upkeep (use "
                "TableEncryption.CUSTOMER_MANAGED where compliance requires owning the key).",
            },
        )
        for index in indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=(
                    dynamodb.Attribute(name=index.sort_key, type=dynamodb.AttributeType.STRING)
                    if index.sort_key
                    else None
                ),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table
