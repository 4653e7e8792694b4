"""The orders pipeline as synthesized: queue → DLQ redrive (driven through moto), event source, rule, DLQs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws
from service_common import orders as shared_orders

from stacks.config import ORDER_PROCESSOR_TIMEOUT_SECONDS
from stacks.data_stack import ORDER_CREATED_RULE
from tests.aws_resources import create_queue, create_table, receive_all
from tests.conftest import load_function
from tests.events import LambdaContext, sqs_event
from tests.stacks.test_assertions import config_of

ORDERS_QUEUE = "OrdersQueue3DFA1D51"
ORDERS_DLQ = "OrdersDLQ8E8CD9EE"
PROJECTION_DLQ = "OrderProjectionDLQED4AF06A"
ORDERS_BUS = "OrdersBus68D47F66"


def refers_to(value: Any, logical_id: str) -> bool:
    """True when `value` (Ref/GetAtt, or a cross-stack output named after it) points at `logical_id`."""
    return logical_id in json.dumps(value)


def one(stage_app, stack: str, resource_type: str, prefix: str) -> dict:
    (resource,) = (r for i, r in stage_app.resources(stack, resource_type).items() if i.startswith(prefix))
    return resource["Properties"]


def redrive_of(stage_app) -> dict:
    return stage_app.templates["Data"]["Resources"][ORDERS_QUEUE]["Properties"]["RedrivePolicy"]


def test_orders_queue_redrives_to_its_dlq_after_three_receives(stage_app):
    redrive = redrive_of(stage_app)
    assert redrive["maxReceiveCount"] == 3
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [ORDERS_DLQ, "Arn"]}


def test_every_queue_is_encrypted_and_refuses_plain_http(stage_app):
    queues = stage_app.resources("Data", "AWS::SQS::Queue")
    assert {ORDERS_QUEUE, ORDERS_DLQ, PROJECTION_DLQ} <= set(queues)
    policies = stage_app.resources("Data", "AWS::SQS::QueuePolicy").values()
    for logical_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        (policy,) = (p for p in policies if p["Properties"]["Queues"] == [{"Ref": logical_id}])
        deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny == [
            {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": {"Fn::GetAtt": [logical_id, "Arn"]},
            }
        ]


def test_dlqs_keep_messages_for_14_days_and_protection_follows_the_stage(stage_app):
    resources = stage_app.templates["Data"]["Resources"]
    for logical_id in (ORDERS_DLQ, PROJECTION_DLQ):
        assert resources[logical_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for logical_id in (ORDERS_QUEUE, ORDERS_DLQ, PROJECTION_DLQ):
        assert resources[logical_id]["DeletionPolicy"] == (
            "Retain" if stage_app.stage == "prod" else "Delete"
        )


def test_visibility_timeout_covers_six_processor_timeouts_plus_the_batching_window(stage_app):
    queue = stage_app.templates["Data"]["Resources"][ORDERS_QUEUE]["Properties"]
    processor = one(stage_app, "Service", "AWS::Lambda::Function", "OrderProcessor")
    window = config_of(stage_app).orders_queue.max_batching_window_seconds
    assert processor["Timeout"] == ORDER_PROCESSOR_TIMEOUT_SECONDS
    assert queue["VisibilityTimeout"] >= 6 * processor["Timeout"] + window


def test_processor_polls_the_orders_queue_with_the_stage_batching_and_partial_failures(stage_app):
    (mapping,) = stage_app.resources("Service", "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    polling = config_of(stage_app).orders_queue
    assert refers_to(props["EventSourceArn"], ORDERS_QUEUE)
    assert props["FunctionName"]["Ref"].startswith("OrderProcessorFunction")
    assert props["BatchSize"] == polling.batch_size
    assert props["MaximumBatchingWindowInSeconds"] == polling.max_batching_window_seconds
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_order_created_rule_matches_what_the_processor_publishes_and_dead_letters(stage_app):
    (rule,) = (
        r
        for r in stage_app.resources("Service", "AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    )
    props = rule["Properties"]
    assert props["Name"] == stage_app.config.stack_name(ORDER_CREATED_RULE)
    assert refers_to(props["EventBusName"], ORDERS_BUS)
    assert props["EventPattern"] == {
        "source": [shared_orders.EVENT_SOURCE],
        "detail-type": [shared_orders.ORDER_CREATED],
    }
    (target,) = props["Targets"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("OrderProjectionFunction")
    assert refers_to(target["DeadLetterConfig"]["Arn"], PROJECTION_DLQ)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_only_that_rule_may_dead_letter_into_the_projection_dlq(stage_app):
    (policy,) = (
        p["Properties"]
        for p in stage_app.resources("Data", "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": PROJECTION_DLQ}]
    )
    (allow,) = (s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    source_arn = json.dumps(allow["Condition"]["ArnEquals"]["aws:SourceArn"])
    rule_name = stage_app.config.stack_name(ORDER_CREATED_RULE)
    assert f'":rule/", {{"Ref": "{ORDERS_BUS}"}}, "/{rule_name}"' in source_arn


def test_projection_failures_after_lambda_retries_go_to_the_projection_dlq(stage_app):
    projection = one(stage_app, "Service", "AWS::Lambda::Function", "OrderProjection")
    assert refers_to(projection["DeadLetterConfig"]["TargetArn"], PROJECTION_DLQ)


def test_idempotency_table_has_the_powertools_key_and_expires_records(stage_app):
    table = stage_app.templates["Data"]["Resources"]["IdempotencyTable22A5A209"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "OrdersApi",
            {
                "ORDERS_TABLE_NAME": "OrdersTable",
                "ORDERS_QUEUE_URL": ORDERS_QUEUE,
                "PAGE_TOKEN_SECRET_ARN": "PageTokenKey",
            },
        ),
        (
            "OrderProcessor",
            {
                "ORDERS_TABLE_NAME": "OrdersTable",
                "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable",
                "EVENT_BUS_NAME": ORDERS_BUS,
            },
        ),
        ("OrderProjection", {"USERS_TABLE_NAME": "UsersTable", "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable"}),
    ],
)
def test_functions_are_configured_with_their_resources(stage_app, prefix, expected):
    variables = one(stage_app, "Service", "AWS::Lambda::Function", prefix)["Environment"]["Variables"]
    for name, logical_id in expected.items():
        assert refers_to(variables[name], logical_id), name


# --- the redrive, driven through moto with the synthesized queue settings --------------------------


@pytest.fixture
def synthesized_queues(synthesized):
    """OrdersQueue and OrdersDLQ created in moto from the dev template's properties."""
    redrive = redrive_of(synthesized["dev"])
    queue = synthesized["dev"].templates["Data"]["Resources"][ORDERS_QUEUE]["Properties"]
    with mock_aws():
        dlq_url, dlq_arn = create_queue("orders-dlq")
        queue_url, queue_arn = create_queue(
            "orders-queue", dlq_arn=dlq_arn, max_receive_count=redrive["maxReceiveCount"]
        )
        boto3.client("sqs").set_queue_attributes(
            QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(queue["VisibilityTimeout"])}
        )
        yield {"queue_url": queue_url, "queue_arn": queue_arn, "dlq_url": dlq_url}


def test_a_message_failing_three_receives_ends_in_the_dlq_unchanged(synthesized_queues):
    sqs = boto3.client("sqs")
    body = json.dumps({"orderId": "o-1", "note": "ünïcode and spaces  "})
    sqs.send_message(QueueUrl=synthesized_queues["queue_url"], MessageBody=body)

    for receive in (1, 2, 3):
        # Not deleted (the handler failed it); visibility 0 stands for the visibility timeout passing.
        (message,) = receive_all(synthesized_queues["queue_url"], visibility_timeout=0)
        assert message["Attributes"]["ApproximateReceiveCount"] == str(receive)
    assert receive_all(synthesized_queues["queue_url"], visibility_timeout=0) == []

    (dead,) = receive_all(synthesized_queues["dlq_url"])
    assert dead["Body"] == body


def test_the_processor_deadletters_a_poison_message_and_processes_the_rest(synthesized_queues, monkeypatch):
    """Lambda's poller, by hand: receive, invoke, delete all but batchItemFailures, repeat."""
    create_table("orders", "orderId")
    create_table("idempotency", "id")
    boto3.client("events").create_event_bus(Name="orders-bus")
    for name, value in {
        "ORDERS_TABLE_NAME": "orders",
        "IDEMPOTENCY_TABLE_NAME": "idempotency",
        "EVENT_BUS_NAME": "orders-bus",
        "AWS_LAMBDA_FUNCTION_NAME": "order-processor",
    }.items():
        monkeypatch.setenv(name, value)
    handler = load_function("order_processor")
    sqs = boto3.client("sqs")
    good = {
        "orderId": "o-1",
        "userId": "user-1",
        "items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}],
        "totalCents": 100,
        "status": "ACCEPTED",
        "createdAt": "2026-11-23T08:00:00.000Z",
    }
    poison = json.dumps({"orderId": "o-2", "items": "not a list"})
    sqs.send_message(QueueUrl=synthesized_queues["queue_url"], MessageBody=json.dumps(good))
    sqs.send_message(QueueUrl=synthesized_queues["queue_url"], MessageBody=poison)

    for _ in range(4):
        messages = receive_all(synthesized_queues["queue_url"], visibility_timeout=0)
        if not messages:
            break
        try:
            result = handler.lambda_handler(
                sqs_event(messages, synthesized_queues["queue_arn"]), LambdaContext("order-processor")
            )
            failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
        except BatchProcessingError:  # a failed invocation: Lambda deletes nothing
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(
                    QueueUrl=synthesized_queues["queue_url"], ReceiptHandle=message["ReceiptHandle"]
                )

    assert receive_all(synthesized_queues["queue_url"], visibility_timeout=0) == []
    (dead,) = receive_all(synthesized_queues["dlq_url"])
    assert dead["Body"] == poison
    orders = boto3.resource("dynamodb").Table("orders").scan()["Items"]
    assert [(o["orderId"], o["status"]) for o in orders] == [("o-1", "CONFIRMED")]
