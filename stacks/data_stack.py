"""Stateful resources: everything here holds data and is protected in prod."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import StageConfig

# The rule (service stack) that feeds OrderCreated events to the projection. Its name is fixed so this
# stack can allow exactly that rule, by ARN, to dead-letter into the projection DLQ without a
# reference back to the service stack (which would make the two stacks depend on each other).
ORDER_CREATED_RULE_NAME = "OrderCreatedToProjection"
MAX_RECEIVES_BEFORE_DLQ = 3
DLQ_RETENTION = Duration.days(14)


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self.users_table = self._table("UsersTable", partition_key="userId", config=config)
        self._orders(config)

    # --- orders: table, queue + DLQ, idempotency records, event bus, projection DLQ -------------------
    def _orders(self, config: StageConfig) -> None:
        self.orders_table = self._table("OrdersTable", partition_key="orderId", config=config)
        # Powertools idempotency records (key attribute `id`, TTL attribute `expiration`).
        self.idempotency_table = self._table(
            "IdempotencyTable", partition_key="id", config=config, time_to_live_attribute="expiration"
        )
        self.orders_dlq = self._queue("OrdersDLQ", retention_period=DLQ_RETENTION)
        Validations.of(self.orders_dlq).acknowledge(
            Acknowledgment(
                id="Serverless::Serverless-SQSRedrivePolicy",
                reason="OrdersDLQ is the dead-letter queue of OrdersQueue (redrive after 3 receives); "
                "its messages are inspected and redriven by hand, never consumed by a function.",
            )
        )
        self.orders_queue = self._queue(
            "OrdersQueue",
            visibility_timeout=Duration.seconds(config.orders_queue.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.orders_dlq, max_receive_count=MAX_RECEIVES_BEFORE_DLQ
            ),
        )
        self.orders_bus = events.EventBus(
            self, "OrdersBus", description=f"{config.service} ({config.stage}) domain events"
        )
        self.orders_bus.apply_removal_policy(config.removal_policy)
        # Where OrderCreated events end up when the projection cannot take them: EventBridge's target
        # DLQ (delivery failed) and the projection function's async DLQ (it failed after its retries).
        self.projection_dlq = self._queue("OrderProjectionDLQ", retention_period=DLQ_RETENTION)
        self.projection_dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrderCreatedRuleDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.projection_dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.order_created_rule_arn}},
            )
        )
        Validations.of(self.projection_dlq).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself a dead-letter queue: the EventBridge target DLQ and the "
                "Lambda async DLQ of order_projection, neither of which is an SQS redrive policy.",
            ),
            Acknowledgment(
                id="Serverless::Serverless-SQSRedrivePolicy",
                reason="This queue is itself a dead-letter queue (EventBridge target and Lambda async "
                "DLQ of order_projection); a DLQ of a DLQ would only move the same messages again.",
            ),
        )

    @property
    def order_created_rule_arn(self) -> str:
        return self.format_arn(
            service="events",
            resource="rule",
            resource_name=f"{self.orders_bus.event_bus_name}/{ORDER_CREATED_RULE_NAME}",
        )

    def _queue(self, construct_id: str, **props) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            removal_policy=self._config.removal_policy,
            **props,
        )

    def _table(
        self,
        construct_id: str,
        *,
        partition_key: str,
        config: StageConfig,
        time_to_live_attribute: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
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
