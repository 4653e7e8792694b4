"""DynamoDB Streams and Kinesis event source mappings from a hand-written template: Lambda's stream
records, FilterCriteria, bisecting a failing batch, retries then the on-failure destination, and
ReportBatchItemFailures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from tests.helpers import eventually, python_function, running_stack

CHANGES = """
import json

def handler(event, context):
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
    print(json.dumps({"names": [r["eventName"] for r in event["Records"]], "keys": keys,
                      "source": event["Records"][0]["eventSourceARN"]}))
    if any(r["dynamodb"].get("NewImage", {}).get("poison") for r in event["Records"]):
        raise ValueError("poison record in the batch")
"""
CLICKS = """
import base64
import json

def handler(event, context):
    failures = []
    for record in event["Records"]:
        data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        print(json.dumps({"seen": data["n"]}))
        if data.get("bad"):
            failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            break
    return {"batchItemFailures": failures}
"""
READ = ["dynamodb:*", "kinesis:*"]


TEMPLATE = {
    "Resources": {
        "Items": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "items",
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            },
        },
        "Clicks": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "clicks", "ShardCount": 1}},
        "Failures": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "stream-failures"}},
        "Reader": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "ReaderPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "read",
                "Roles": [{"Ref": "Reader"}],
                "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": READ, "Resource": "*"}]},
            },
        },
        "Changes": python_function("asset.changes", "Reader", Timeout=10),
        "ClickCounter": python_function("asset.clicks", "Reader", Timeout=10),
        "ChangesMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "Changes"},
                "EventSourceArn": {"Fn::GetAtt": ["Items", "StreamArn"]},
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 4,
                "MaximumBatchingWindowInSeconds": 1,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 2,  # counted per record: each failed invocation of it is a retry
                "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT", "MODIFY"]})}]},
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}},
            },
        },
        "ClicksMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "ClickCounter"},
                "EventSourceArn": {"Fn::GetAtt": ["Clicks", "Arn"]},
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 10,
                "MaximumBatchingWindowInSeconds": 1,
                "MaximumRetryAttempts": 0,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}},
            },
        },
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory, "Streams", TEMPLATE, {"asset.changes": CHANGES, "asset.clicks": CLICKS}
    ) as started:
        yield started


def _printed(runtime: Runtime, function: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for entry in runtime.console.invocations.after(0)
        if entry["function"] == function
        for line in entry["logs"]
        if line.startswith("{")
    ]


def _failures(runtime: Runtime) -> list[dict[str, Any]]:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="stream-failures")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def test_dynamodb_stream_filter_bisect_and_on_failure(runtime: Runtime) -> None:
    dynamodb = runtime.client("dynamodb")
    for key in ("a", "b", "c"):
        dynamodb.put_item(TableName="items", Item={"pk": {"S": key}})
    dynamodb.put_item(TableName="items", Item={"pk": {"S": "d"}, "poison": {"BOOL": True}})
    dynamodb.delete_item(TableName="items", Key={"pk": {"S": "a"}})  # REMOVE: filtered out
    failed = eventually(lambda: _failures(runtime), what="the poison record at the on-failure destination")
    info = failed[0]["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"].endswith("table/items/stream/1970-01-01T00:00:00.000")
    assert failed[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    calls = _printed(runtime, "Changes")
    assert calls[0]["keys"] == ["a", "b", "c", "d"] and calls[0]["source"] == info["streamArn"]
    assert all(name in ("INSERT", "MODIFY") for call in calls for name in call["names"])
    # Bisected until the poison record was alone; the good records were delivered in passing halves.
    assert [c["keys"] for c in calls] == [["a", "b", "c", "d"], ["a", "b"], ["c", "d"], ["c"], ["d"]]


def test_kinesis_reports_batch_item_failures(runtime: Runtime) -> None:
    kinesis = runtime.client("kinesis")
    for n in range(1, 5):
        data = {"n": n, **({"bad": True} if n == 3 else {})}
        kinesis.put_record(StreamName="clicks", Data=json.dumps(data).encode(), PartitionKey="p")
    failed = eventually(lambda: _failures(runtime), what="the failed click at the on-failure destination")
    info = failed[0]["KinesisBatchInfo"]
    # The batch failed from record 3 on; with no retries allowed, 3 and 4 go to the destination.
    assert info["batchSize"] == 2 and info["streamArn"].endswith(":stream/clicks")
    assert [p["seen"] for p in _printed(runtime, "ClickCounter")] == [1, 2, 3]
