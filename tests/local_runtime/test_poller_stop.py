"""Stopping an SQS event source waits for the batch in progress, not for long polls (polling.py), and a
long poll that returns after the stop hands its messages back at once instead of hiding them for the
queue's visibility timeout (what a redeploy, which replaces the pollers, would otherwise wait out)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_runtime.polling import Holds
from local_runtime.runtime import free_port, start_moto
from local_runtime.sqs_source import Mapping, SqsPoller
from local_runtime.workers import Pool
from tests.helpers import eventually, function_spec

HANDLER = """
import time

def handler(event, context):
    time.sleep(1.5)  # a batch in progress when the poller stops
    return {"batchItemFailures": []}
"""
REGION = "eu-west-1"


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[Any]:
    port = free_port()
    moto = start_moto(port, tmp_path / "moto.log")
    try:
        yield boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    finally:
        moto.terminate()
        moto.wait(5)


def test_a_stop_waits_for_the_batch_in_progress_and_late_messages_stay_visible(
    sqs: Any, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    pool = Pool(function_spec(code), {"PATH": os.environ["PATH"]}, tmp_path)
    url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:123456789012:orders"
    batches: list[str] = []
    pool.on_invocation = lambda _spec, trigger, _invocation: batches.append(trigger)
    mapping = Mapping("Source", arn, "fn", report_failures=True, max_concurrency=3)
    poller = SqsPoller(mapping, pool, lambda: sqs, REGION, wait_s=1)
    poller.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="in progress")
        eventually(lambda: poller._holds._holders == 1, 20, "the batch in progress")
        poller.stop()
        # The stop returned after the batch: it was invoked and its message deleted.
        assert batches == ["sqs orders (1 msg)"]
        assert (
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
            == "0"
        )
        # The other two threads are still in their long polls: what they receive now goes back at once.
        sqs.send_message(QueueUrl=url, MessageBody="late")
        time.sleep(1.5)  # their polls end
        late = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"])["Messages"]
        assert [m["Body"] for m in late] == ["late"]
        assert batches == ["sqs orders (1 msg)"]  # never invoked with it
    finally:
        poller.stop()
        pool.stop()


def test_messages_received_after_the_stop_are_handed_back_visible_at_once(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="rule", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    stopping = threading.Event()
    holds = Holds(stopping)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    stopping.set()
    assert not holds.hold(sqs, url, received)  # received after the stop: handed back
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted(m["Body"] for m in again) == ["a", "b"]
    holds.wait(0)  # nothing held: returns at once
