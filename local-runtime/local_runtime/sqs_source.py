"""SQS event source mappings, polled as Lambda's pollers do (batch size, batching window, partial failures).

Failed messages are simply not deleted: they reappear after the queue's visibility timeout and moto's
SQS moves them to the dead-letter queue after the redrive policy's maxReceiveCount.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_runtime import priority
from local_runtime.polling import Holds
from local_runtime.workers import Invocation, Pool

log = logging.getLogger("local_runtime.sqs")


@dataclass
class Mapping:
    logical_id: str
    queue_arn: str
    function_arn: str
    batch_size: int = 10
    window_s: float = 0.0
    report_failures: bool = False
    enabled: bool = True
    max_concurrency: int = 2


def lambda_records(messages: list[dict[str, Any]], queue_arn: str, region: str) -> list[dict[str, Any]]:
    records = []
    for message in messages:
        attributes = {
            k: v
            for k, v in message.get("Attributes", {}).items()
            if k
            in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "SequenceNumber",
                "MessageGroupId",
                "MessageDeduplicationId",
                "AWSTraceHeader",
            )
        }
        message_attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": message.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return records


class SqsPoller:
    def __init__(
        self,
        mapping: Mapping,
        pool: Pool,
        sqs_client: Callable[[], Any],
        region: str,
        wait_s: float = 1.0,
        problem: str | None = None,
        background_nice: int = 0,
    ) -> None:
        self.mapping = mapping
        # Why Lambda's polls fail (e.g. the role may not decrypt): nothing is received, as in AWS.
        self.problem = problem
        self.pool = pool
        self._sqs = sqs_client
        self.region = region
        self.wait_s = wait_s
        self.background_nice = background_nice  # its threads' (priority.py)
        self._stop = threading.Event()
        self._holds = Holds(self._stop)
        self.queue_name = mapping.queue_arn.rsplit(":", 1)[-1]
        self.queue_url = ""

    def start(self) -> None:
        self.queue_url = self._sqs().get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        if self.problem is not None:
            log.error(
                "%s: PROBLEM: %s; its messages stay in the queue", self.mapping.logical_id, self.problem
            )
            return
        for index in range(max(1, self.mapping.max_concurrency)):
            threading.Thread(target=self._loop, name=f"sqs-{self.queue_name}-{index}", daemon=True).start()

    def stop(self) -> None:
        """Waits for the batches in progress, not for long polls (polling.py)."""
        self._stop.set()
        self._holds.wait(5)

    def _receive(self, sqs: Any, count: int, wait: float) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=int(max(0, min(20, wait))),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def poll_once(self, sqs: Any) -> Invocation | None:
        """Receive one batch (honouring the batching window), invoke, delete what succeeded."""
        mapping = self.mapping
        messages = self._receive(sqs, mapping.batch_size, self.wait_s)
        if not messages or not self._holds.hold(sqs, self.queue_url, messages):
            return None
        try:
            return self._process(sqs, messages)
        finally:
            self._holds.let_go()

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> Invocation:
        mapping = self.mapping
        window_end = time.monotonic() + mapping.window_s
        while (
            len(messages) < mapping.batch_size and time.monotonic() < window_end and not self._stop.is_set()
        ):
            more = self._receive(
                sqs, mapping.batch_size - len(messages), min(1.0, window_end - time.monotonic())
            )
            messages.extend(more)
        event = {"Records": lambda_records(messages, mapping.queue_arn, self.region)}
        invocation = self.pool.invoke(event, f"sqs {self.queue_name} ({len(messages)} msg)")
        if not invocation.ok:
            return invocation  # whole batch returns to the queue after the visibility timeout
        failed = self._failed_ids(invocation.result, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return invocation

    def _failed_ids(self, result: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.mapping.report_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        ids = {m["MessageId"] for m in messages}
        failed = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in ids:
                log.warning(
                    "%s: invalid batchItemFailures entry %r: the whole batch fails", self.queue_name, failure
                )
                return ids
            failed.add(identifier)
        return failed

    def _loop(self) -> None:
        priority.enter_background(self.background_nice)
        sqs = self._sqs()
        while not self._stop.is_set():
            try:
                self.poll_once(sqs)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("SQS poller for %s failed; retrying", self.queue_name)
                self._stop.wait(1)
