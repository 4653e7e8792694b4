"""Asynchronous invocations' destinations (AWS::Lambda::EventInvokeConfig): a success goes to OnSuccess, a
failure after the retries to OnFailure, as Lambda's invocation record, to a queue, a topic, a function or
an event bus; sent with the function's role, which must allow it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from tests.helpers import eventually, policy_role, python_function, running_stack

WORK = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no: " + event["fail"])
    return {"done": event["id"]}
"""
AUDIT = """
import json

def handler(event, context):
    print("audit", json.dumps(event))
"""


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _config(function: str, on_success: dict[str, Any], on_failure: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::EventInvokeConfig",
        "Properties": {
            "FunctionName": {"Ref": function},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 1,
            "DestinationConfig": {
                "OnSuccess": {"Destination": on_success},
                "OnFailure": {"Destination": on_failure},
            },
        },
    }


TEMPLATE = {
    "Resources": {
        "Done": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "done"}},
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "results"}},
        "WorkRole": policy_role(
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": _arn("Done")},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": _arn("Audit")},
        ),
        "LimitedRole": policy_role(),  # may call no destination
        "Work": python_function("asset.work", "WorkRole"),
        "Limited": python_function("asset.work", "LimitedRole"),
        "Audit": python_function("asset.audit"),
        "WorkConfig": _config("Work", _arn("Done"), _arn("Audit")),
        "LimitedConfig": _config("Limited", _arn("Done"), _arn("Bus")),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(
        tmp_path_factory,
        "Dest",
        TEMPLATE,
        {"asset.work": WORK, "asset.audit": AUDIT},
        async_retry_delays=(0.1,),
    ) as started:
        yield started


def _async(runtime: Runtime, function: str, event: dict[str, Any]) -> None:
    spec = next(s for s in runtime.specs if s.logical_id == function)
    runtime.invoke_async(spec.arn, event, "test").result(timeout=30)


def _done_messages(runtime: Runtime) -> list[dict[str, Any]]:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="done")["QueueUrl"]
    return [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]


def test_a_success_goes_to_on_success_and_a_failure_to_on_failure(runtime: Runtime) -> None:
    _async(runtime, "Work", {"id": "w-1"})
    (record,) = _done_messages(runtime)
    assert record["requestContext"]["condition"] == "Success"
    assert (record["requestPayload"], record["responsePayload"]) == ({"id": "w-1"}, {"done": "w-1"})
    _async(runtime, "Work", {"id": "w-2", "fail": "bad"})
    log = runtime.options.state_dir / "logs" / "Audit.log"
    text = eventually(
        lambda: log.read_text() if log.exists() and "RetriesExhausted" in log.read_text() else None
    )
    failed = json.loads(text.split("audit ", 1)[1].splitlines()[0])
    assert failed["requestContext"]["approximateInvokeCount"] == 2  # MaximumRetryAttempts 1
    assert failed["responseContext"]["functionError"] == "Unhandled"
    assert failed["responsePayload"]["errorMessage"] == "no: bad"


def test_a_role_that_may_not_send_to_the_destination_loses_the_record(runtime: Runtime) -> None:
    _async(runtime, "Limited", {"id": "l-1"})
    assert _done_messages(runtime) == []
