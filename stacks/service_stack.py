"""The service: API routes → functions, with exact per-function grants on the data stack's resources."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnOutput, CfnResource, Duration, Stack, Validations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import ORDER_PROCESSOR_TIMEOUT_SECONDS, StageConfig
from stacks.constructs.checkov_skips import cdk_provider_function_skips, skip_checks
from stacks.constructs.dependency_layer import DependencyLayer
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import RUNTIME, ServiceFunction
from stacks.data_stack import FILES_BY_USER_INDEX, ORDERS_BY_DATE_INDEX, ORDERS_BY_USER_INDEX

SHARED_LAYER_DIR = "layers/shared"
# EventBridge retries delivery to the projection this often before dead-lettering the event.
MAX_EVENT_RETRIES = 8
# Function-level concurrency, decided per function (`_function`). The asynchronously invoked background
# functions reserve some: a burst of events (orders, uploads) then waits in Lambda's async queue, retried
# for up to 6 hours, instead of taking the account's concurrency from the API and flooding the tables.
# Lambda keeps 100 of the account's concurrency unreserved, so the account quota must be at least
# 100 + their sum (README "First deploy").
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
RESERVED_CONCURRENCY = {"OrderProjection": 10, "UploadIndexer": 10, "DailyReport": 1}
API_CONCURRENCY = (
    "Invoked only through API Gateway, whose stage throttle (cdk.json apiThrottle) bounds its rate; a "
    "reservation would cap the API below that throttle and take from the account's pool."
)
# The order processor is bounded by its SQS event source's maximum concurrency instead: with reserved
# concurrency, Lambda's SQS pollers get throttled and return batches to the queue, counting receives
# towards the DLQ (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
ORDER_PROCESSOR_MAX_CONCURRENCY = 10


@dataclass(frozen=True)
class DataResources:
    """What the service stack uses from the data stack."""

    user_pool: cognito.IUserPool
    users_table: dynamodb.ITable
    # orders
    orders_table: dynamodb.ITable
    idempotency_table: dynamodb.ITable
    orders_queue: sqs.IQueue
    orders_bus: events.IEventBus
    projection_dlq: sqs.IQueue
    order_created_rule_name: str
    # uploads
    uploads_bucket: s3.IBucket
    files_table: dynamodb.ITable
    upload_indexer_dlq: sqs.IQueue
    # daily report
    reports_bucket: s3.IBucket
    daily_report_dlq: sqs.IQueue
    daily_report_rule_name: str


# CDK's own custom resource that writes a bucket's notification configuration (one per stack).
BUCKET_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataResources,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        # Every ServiceFunction by construct id: the monitoring stack watches each of them.
        self.functions: dict[str, ServiceFunction] = {}
        self.layers = [
            DependencyLayer(self, "DependencyLayer", runtime=RUNTIME).layer,
            lambda_.LayerVersion(
                self,
                "SharedLayer",
                description="Shared service code (errors, responses, env, AWS clients)",
                code=lambda_.Code.from_asset(SHARED_LAYER_DIR, exclude=["**/__pycache__"]),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[lambda_.Architecture.ARM_64],
            ),
        ]
        self.api = ServiceApi(self, "Api", config=config, user_pool=data.user_pool)
        # The stage's base URL (with the stage), for clients and the e2e suite (`make test-deployed`).
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        # The API functions answer browsers with CORS headers for these origins (service_common.api).
        self._cors_env = {"CORS_ALLOW_ORIGINS": ",".join(config.cors_allow_origins)}
        self._page_token_key()

        # /users → users_api → UsersTable
        self.users_api = self._function(
            "UsersApi",
            unreserved_because=API_CONCURRENCY,
            folder="users_api",
            description="Users CRUD API",
            environment={
                "USERS_TABLE_NAME": data.users_table.table_name,
                **self._page_token_env,
                **self._cors_env,
            },
        )
        self._allow_page_tokens(self.users_api)
        self.users_api.allow(
            [
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            [data.users_table.table_arn],
        )
        for method, path, query in (
            ("POST", "/users", ()),
            ("GET", "/users", ("limit", "nextToken")),
            ("GET", "/users/{userId}", ()),
            ("PUT", "/users/{userId}", ()),
            ("DELETE", "/users/{userId}", ()),
        ):
            self.api.route(method, path, self.users_api.function, query_params=query)

        self._orders(data)
        self._uploads(data)
        self._daily_report(data)

    # --- the key that signs pagination tokens (service_common.pagination) -------------------------------
    def _page_token_key(self) -> None:
        # Generated by CloudFormation, never in the template or the code; losing or replacing it only
        # invalidates the page tokens clients hold (they start their listing again).
        self.page_token_key = secretsmanager.Secret(
            self,
            "PageTokenKey",
            description="HMAC key of the API's pagination tokens (nextToken)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        Validations.of(self.page_token_key).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SMG4",
                reason="A signing key for short-lived pagination tokens, not a credential: nothing "
                "outside this service holds it; replacing it only makes clients restart a listing.",
            )
        )
        skip_checks(
            self.page_token_key,
            {
                "CKV_AWS_149": "Signs pagination tokens only; the AWS managed key suffices, and a CMK would "
                "add a key policy and kms:Decrypt grants to every paginating function for no gain."
            },
        )
        self._page_token_env = {"PAGE_TOKEN_SECRET_ARN": self.page_token_key.secret_arn}

    def _allow_page_tokens(self, function: ServiceFunction) -> None:
        # Read only, by exactly the functions that paginate (the key is encrypted with the AWS managed
        # aws/secretsmanager key, which needs no kms grant).
        function.allow(["secretsmanager:GetSecretValue"], [self.page_token_key.secret_arn])

    # --- orders: API → queue → processor → table + OrderCreated → projection → UsersTable -------------
    def _orders(self, data: DataResources) -> None:
        # Powertools idempotency's documented grants on its table. DeleteItem removes the in-progress
        # record when processing fails, so the retry can run. GetItem is unused by every e2e flow and
        # stays on purpose (tests/e2e/test_least_privilege.py lists it with this reason): it is the
        # fallback read of an existing record when a failed conditional PutItem returns no item
        # (ReturnValuesOnConditionCheckFailure normally returns it).
        idempotency_actions = [
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ]

        # POST /orders → OrdersQueue; GET /orders ← OrdersTable byUser; GET /orders/{orderId} ← OrdersTable
        self.orders_api = self._function(
            "OrdersApi",
            unreserved_because=API_CONCURRENCY,
            folder="orders_api",
            description="Orders API: accept orders onto the queue, list and read processed orders",
            environment={
                "ORDERS_TABLE_NAME": data.orders_table.table_name,
                "ORDERS_QUEUE_URL": data.orders_queue.queue_url,
                "ORDERS_BY_USER_INDEX": ORDERS_BY_USER_INDEX,
                **self._page_token_env,
                **self._cors_env,
            },
        )
        self.orders_api.allow(["sqs:SendMessage"], [data.orders_queue.queue_arn])
        self.orders_api.allow(["dynamodb:GetItem"], [data.orders_table.table_arn])
        self.orders_api.allow(
            ["dynamodb:Query"], [f"{data.orders_table.table_arn}/index/{ORDERS_BY_USER_INDEX}"]
        )
        self._allow_page_tokens(self.orders_api)
        self.api.route("POST", "/orders", self.orders_api.function)
        self.api.route(
            "GET",
            "/orders",
            self.orders_api.function,
            query_params=("limit", "nextToken", "status", "userId"),
        )
        self.api.route("GET", "/orders/{orderId}", self.orders_api.function)

        # OrdersQueue → order_processor (batches, partial failures) → OrdersTable + OrderCreated event
        self.order_processor = self._function(
            "OrderProcessor",
            unreserved_because="Bounded by its SQS event source's maximum concurrency "
            f"({ORDER_PROCESSOR_MAX_CONCURRENCY}); reserved concurrency would throttle the SQS pollers.",
            folder="order_processor",
            description="Stores queued orders once per orderId and publishes OrderCreated",
            environment={
                "ORDERS_TABLE_NAME": data.orders_table.table_name,
                "IDEMPOTENCY_TABLE_NAME": data.idempotency_table.table_name,
                "EVENT_BUS_NAME": data.orders_bus.event_bus_name,
            },
            timeout_seconds=ORDER_PROCESSOR_TIMEOUT_SECONDS,
        )
        # Exactly what Lambda's SQS poller needs (SqsEventSource would also grant GetQueueUrl and
        # ChangeMessageVisibility through grant_consume_messages).
        self.order_processor.allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            [data.orders_queue.queue_arn],
        )
        self.order_processor.allow(["dynamodb:PutItem"], [data.orders_table.table_arn])
        # GetItem: Powertools' fallback read (see idempotency_actions); DeleteItem: when an order fails.
        self.order_processor.allow(idempotency_actions, [data.idempotency_table.table_arn])
        self.order_processor.allow(["events:PutEvents"], [data.orders_bus.event_bus_arn])
        polling = self._config.orders_queue
        source = self.order_processor.function.add_event_source_mapping(
            "OrdersQueueSource",
            event_source_arn=data.orders_queue.queue_arn,
            batch_size=polling.batch_size,
            max_batching_window=Duration.seconds(polling.max_batching_window_seconds),
            report_batch_item_failures=True,
            max_concurrency=ORDER_PROCESSOR_MAX_CONCURRENCY,
        )
        Validations.of(source).acknowledge(
            Acknowledgment(
                id="Serverless::Serverless-LambdaEventSourceMappingDestination",
                reason="Lambda supports no on-failure destination for SQS event sources; a record that "
                "keeps failing is moved to OrdersDLQ by OrdersQueue's redrive policy after 3 receives.",
            )
        )

        # OrdersBus {source: orders, detail-type: OrderCreated} → order_projection → UsersTable
        # Referenced by ARN only: the data stack owns this DLQ's policy, which allows exactly this rule.
        projection_dlq = sqs.Queue.from_queue_arn(self, "OrderProjectionDLQ", data.projection_dlq.queue_arn)
        self.order_projection = self._function(
            "OrderProjection",
            folder="order_projection",
            description="Projects OrderCreated events onto the user (order count, last order)",
            environment={
                "USERS_TABLE_NAME": data.users_table.table_name,
                "IDEMPOTENCY_TABLE_NAME": data.idempotency_table.table_name,
            },
            dead_letter_queue=projection_dlq,
        )
        self.order_projection.allow(["dynamodb:UpdateItem"], [data.users_table.table_arn])
        # GetItem: Powertools' fallback read (see idempotency_actions); DeleteItem: when a projection fails.
        self.order_projection.allow(idempotency_actions, [data.idempotency_table.table_arn])
        events.Rule(
            self,
            "OrderCreatedRule",
            rule_name=data.order_created_rule_name,
            description="OrderCreated events to the user projection",
            event_bus=data.orders_bus,
            event_pattern=events.EventPattern(source=["orders"], detail_type=["OrderCreated"]),
            targets=[
                targets.LambdaFunction(
                    self.order_projection.function,
                    dead_letter_queue=projection_dlq,
                    retry_attempts=MAX_EVENT_RETRIES,
                    max_event_age=Duration.hours(6),
                )
            ],
        )

    # --- uploads: POST /uploads → presigned PUT; S3 notifications → upload_indexer → FilesTable --------

    def _uploads(self, data: DataResources) -> None:
        self.uploads_api = self._function(
            "UploadsApi",
            unreserved_because=API_CONCURRENCY,
            folder="uploads_api",
            description="Presigned PUT URLs for uploads under uploads/<userId>/",
            environment={
                "UPLOADS_BUCKET_NAME": data.uploads_bucket.bucket_name,
                "UPLOAD_MAX_BYTES": str(self._config.upload_max_bytes),
                "PRESIGN_EXPIRY_SECONDS": str(self._config.presign_expiry_seconds),
                **self._cors_env,
            },
        )
        # The presigned URL carries this role's permission: it can only ever put under uploads/.
        self.uploads_api.allow_objects(["s3:PutObject"], data.uploads_bucket, "uploads/")
        self.api.route("POST", "/uploads", self.uploads_api.function)

        # Its own function: the presigner of PUTs never gets to read or delete, this one never to write.
        self.files_api = self._function(
            "FilesApi",
            folder="files_api",
            description="The caller's indexed uploads: list, presigned GET, delete",
            unreserved_because=API_CONCURRENCY,
            environment={
                "FILES_TABLE_NAME": data.files_table.table_name,
                "FILES_BY_USER_INDEX": FILES_BY_USER_INDEX,
                "UPLOADS_BUCKET_NAME": data.uploads_bucket.bucket_name,
                "DOWNLOAD_EXPIRY_SECONDS": str(self._config.presign_expiry_seconds),
                **self._page_token_env,
                **self._cors_env,
            },
        )
        self.files_api.allow(["dynamodb:GetItem"], [data.files_table.table_arn])
        self.files_api.allow(
            ["dynamodb:Query"], [f"{data.files_table.table_arn}/index/{FILES_BY_USER_INDEX}"]
        )
        # GetObject: the presigned GET URL carries this role's permission; DeleteObject: DELETE /files/{id}.
        self.files_api.allow_objects(["s3:GetObject", "s3:DeleteObject"], data.uploads_bucket, "uploads/")
        self._allow_page_tokens(self.files_api)
        self.api.route("GET", "/files", self.files_api.function, query_params=("limit", "nextToken"))
        self.api.route("GET", "/files/{fileId}", self.files_api.function)
        self.api.route("DELETE", "/files/{fileId}", self.files_api.function)

        self.upload_indexer = self._function(
            "UploadIndexer",
            folder="upload_indexer",
            description="Indexes uploads/ objects into FilesTable on S3 ObjectCreated/ObjectRemoved",
            environment={"FILES_TABLE_NAME": data.files_table.table_name},
            timeout_seconds=30,
            dead_letter_queue=data.upload_indexer_dlq,
        )
        self.upload_indexer.allow_objects(["s3:GetObject"], data.uploads_bucket, "uploads/")
        # So that HeadObject of a key deleted before indexing answers 404 (the "gone" case), not 403.
        self.upload_indexer.allow_listing(data.uploads_bucket, "uploads/")
        self.upload_indexer.allow(["dynamodb:PutItem", "dynamodb:DeleteItem"], [data.files_table.table_arn])

        # The notification lives in this stack (on a reference to the bucket) so that the data stack
        # never depends on the service stack's function.
        uploads_bucket = s3.Bucket.from_bucket_attributes(
            self,
            "UploadsBucketRef",
            bucket_arn=data.uploads_bucket.bucket_arn,
            bucket_name=data.uploads_bucket.bucket_name,
        )
        destination = s3n.LambdaDestination(self.upload_indexer.function)
        prefix = s3.NotificationKeyFilter(prefix="uploads/")
        uploads_bucket.add_event_notification(s3.EventType.OBJECT_CREATED, destination, prefix)
        uploads_bucket.add_event_notification(s3.EventType.OBJECT_REMOVED, destination, prefix)
        self._adjust_bucket_notifications_handler()

    def _adjust_bucket_notifications_handler(self) -> None:
        handler = self.node.find_child(BUCKET_NOTIFICATIONS_HANDLER_ID)
        # CDK renders DependsOn its role, already implied by the Role GetAtt (cfn-lint W3005).
        function = handler.node.find_child("Resource")
        assert isinstance(function, CfnResource)
        function.add_deletion_override("DependsOn")
        skip_checks(function, cdk_provider_function_skips("the uploads bucket's notification configuration"))
        reason = (
            "CDK's own BucketNotificationsHandler custom resource (from add_event_notification), "
            "which CDK defines and runs only at deploy time to write the bucket's notification config"
        )
        Validations.of(handler).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                reason=f"{reason}: CDK attaches AWSLambdaBasicExecutionRole to its role.",
            ),
        )

    # --- daily report: schedule → daily_report → OrdersTable GSI byOrderDate → ReportsBucket --------

    def _daily_report(self, data: DataResources) -> None:
        self.daily_report = self._function(
            "DailyReport",
            folder="daily_report",
            description="Aggregates the previous UTC day's orders into reports/YYYY-MM-DD.json",
            environment={
                "ORDERS_TABLE_NAME": data.orders_table.table_name,
                "ORDERS_BY_DATE_INDEX": ORDERS_BY_DATE_INDEX,
                "REPORTS_BUCKET_NAME": data.reports_bucket.bucket_name,
            },
            timeout_seconds=300,
            memory_size=1024,
            dead_letter_queue=data.daily_report_dlq,
        )
        orders_by_date = f"{data.orders_table.table_arn}/index/{ORDERS_BY_DATE_INDEX}"
        self.daily_report.allow(["dynamodb:Query"], [orders_by_date])
        self.daily_report.allow_objects(["s3:PutObject"], data.reports_bucket, "reports/")
        # A reference, so the target's DLQ policy is the data stack's (it names this rule's ARN).
        dlq = sqs.Queue.from_queue_arn(self, "DailyReportDlqRef", data.daily_report_dlq.queue_arn)
        self.daily_report_schedule = events.Rule(
            self,
            "DailyReportSchedule",
            rule_name=data.daily_report_rule_name,
            description="Runs daily_report for the previous UTC day",
            schedule=events.Schedule.expression(self._config.report_schedule),
            targets=[
                targets.LambdaFunction(
                    self.daily_report.function,
                    dead_letter_queue=dlq,
                    retry_attempts=3,
                    max_event_age=Duration.hours(2),
                )
            ],
        )

    def _function(
        self,
        construct_id: str,
        *,
        folder: str,
        description: str,
        environment: dict[str, str],
        timeout_seconds: int = 10,
        memory_size: int = 512,
        dead_letter_queue: sqs.IQueue | None = None,
        unreserved_because: str | None = None,
    ) -> ServiceFunction:
        # Each function either reserves concurrency (RESERVED_CONCURRENCY) or says why it does not.
        reserved = RESERVED_CONCURRENCY.get(construct_id)
        if (reserved is None) == (unreserved_because is None):
            raise ValueError(f"{construct_id}: give exactly one of RESERVED_CONCURRENCY, unreserved_because")
        self.functions[construct_id] = ServiceFunction(
            self,
            construct_id,
            folder=folder,
            description=description,
            config=self._config,
            layers=self.layers,
            environment=environment,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
            dead_letter_queue=dead_letter_queue,
            reserved_concurrency=reserved,
        )
        if unreserved_because:
            skip_checks(self.functions[construct_id].function, {"CKV_AWS_115": unreserved_because})
        return self.functions[construct_id]
