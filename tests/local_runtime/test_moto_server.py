"""local_runtime.moto_server: moto with its hot spots made cheap answers exactly as moto as released.

The same script runs against both in fresh interpreters (the patch changes moto module-wide): SQS
visibility, delay, retention expiry and redrive, DynamoDB and EventBridge calls, the backend lookup.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PROJECT_ROOT

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    if sys.argv[1] == "patched":
        from local_runtime import moto_server
        moto_server.apply()
    import boto3
    from moto import mock_aws
    from moto.backends import list_of_moto_modules
    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs.models import sqs_backends

    seen = {"modules": len(list(list_of_moto_modules())), "modules_again": len(list(list_of_moto_modules()))}
    seen["clock_s"] = abs(unix_time() - time.time()) < 1
    seen["clock_ms"] = abs(unix_time_millis() - time.time() * 1000) < 1000
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
        dlq_arn = arn["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName="q",
            Attributes={
                "MessageRetentionPeriod": "60",
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
            },
        )["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        queue = sqs_backends["123456789012"]["us-east-1"].queues["q"]
        queue._messages[0].sent_timestamp -= 61_000  # sent 61 s ago: past the 60 s retention
        sqs.send_message(QueueUrl=url, MessageBody="fresh")
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)
        bodies = []
        for _ in range(3):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            bodies.append(sorted(m["Body"] for m in got.get("Messages", [])))
        seen["received"] = bodies
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        seen["delayed"] = counts["ApproximateNumberOfMessagesDelayed"]
        dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        seen["dlq"] = [m["Body"] for m in dead]
        table = boto3.client("dynamodb", region_name="us-east-1")
        table.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        table.put_item(TableName="t", Item={"id": {"S": "a"}})
        seen["item"] = table.get_item(TableName="t", Key={"id": {"S": "a"}})["Item"]
        events = boto3.client("events", region_name="us-east-1")
        seen["events_failed"] = events.put_events(
            Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]
        )["FailedEntryCount"]
    print(json.dumps(seen))
    """
)


def run(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def released() -> dict:
    return run("released")


def test_the_patched_server_answers_like_moto_as_released(released: dict) -> None:
    assert run("patched") == released


def test_the_script_exercises_expiry_delay_and_redrive(released: dict) -> None:
    """Guard: the comparison above covers the behaviour the patch touches."""
    # moto stops a receive at an expired message (counting it as received, so it is redriven after 2),
    # then hands out the fresh one; the delayed one is not due yet.
    assert released["received"] == [[], [], ["fresh"]] and released["dlq"] == ["old"]
    assert released["delayed"] == "1"
    assert released["clock_s"] and released["clock_ms"] and released["modules"] == released["modules_again"]


def test_an_unexpected_moto_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import utils

    from local_runtime import moto_server

    monkeypatch.setattr(utils, "unix_time", lambda dt=None: 0.0)  # not moto's code any more
    with pytest.raises(RuntimeError, match=r"moto changed moto\.core\.utils\.unix_time"):
        moto_server.apply()
