"""The service: API routes → functions, with exact per-function grants on the data stack's resources."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import ORDER_PROCESSOR_TIMEOUT_SECONDS, StageConfig
from stacks.constructs.dependency_layer import DependencyLayer
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import RUNTIME, ServiceFunction

SHARED_LAYER_DIR = "layers/shared"
# EventBridge retries delivery to the projection this often before dead-lettering the event.
MAX_EVENT_RETRIES = 8


@dataclass(frozen=True)
class DataResources:
    """What the service stack uses from the data stack."""

    users_table: dynamodb.ITable
    # orders
    orders_table: dynamodb.ITable
    idempotency_table: dynamodb.ITable
    orders_queue: sqs.IQueue
    orders_bus: events.IEventBus
    projection_dlq: sqs.IQueue
    order_created_rule_name: str


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
        self.api = ServiceApi(self, "Api", config=config)

        # /users → users_api → UsersTable
        self.users_api = self._function(
            "UsersApi",
            folder="users_api",
            description="Users CRUD API",
            environment={"USERS_TABLE_NAME": data.users_table.table_name},
        )
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

    # --- orders: API → queue → processor → table + OrderCreated → projection → UsersTable -------------
    def _orders(self, data: DataResources) -> None:
        idempotency_actions = [
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        ]

        # POST /orders → OrdersQueue; GET /orders/{orderId} ← OrdersTable
        self.orders_api = self._function(
            "OrdersApi",
            folder="orders_api",
            description="Orders API: accept orders onto the queue, read processed orders",
            environment={
                "ORDERS_TABLE_NAME": data.orders_table.table_name,
                "ORDERS_QUEUE_URL": data.orders_queue.queue_url,
            },
        )
        self.orders_api.allow(["sqs:SendMessage"], [data.orders_queue.queue_arn])
        self.orders_api.allow(["dynamodb:GetItem"], [data.orders_table.table_arn])
        self.api.route("POST", "/orders", self.orders_api.function)
        self.api.route("GET", "/orders/{orderId}", self.orders_api.function)

        # OrdersQueue → order_processor (batches, partial failures) → OrdersTable + OrderCreated event
        self.order_processor = self._function(
            "OrderProcessor",
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
        self.order_processor.allow(idempotency_actions, [data.idempotency_table.table_arn])
        self.order_processor.allow(["events:PutEvents"], [data.orders_bus.event_bus_arn])
        polling = self._config.orders_queue
        source = self.order_processor.function.add_event_source_mapping(
            "OrdersQueueSource",
            event_source_arn=data.orders_queue.queue_arn,
            batch_size=polling.batch_size,
            max_batching_window=Duration.seconds(polling.max_batching_window_seconds),
            report_batch_item_failures=True,
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
    ) -> ServiceFunction:
        return ServiceFunction(
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
        )
