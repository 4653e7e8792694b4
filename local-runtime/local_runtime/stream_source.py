"""DynamoDB Streams and Kinesis event source mappings, as Lambda's stream pollers run them: per shard, in
order, batches of up to BatchSize (after MaximumBatchingWindowInSeconds), invoked synchronously. A failed
batch is retried (the same records; halved first with BisectBatchOnFunctionError) until
MaximumRetryAttempts or MaximumRecordAgeInSeconds, then its description goes to the on-failure destination
and the shard moves on; with ReportBatchItemFailures the batch is retried from the first failed record.
FilterCriteria drop records before the invocation.
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

from local_runtime import priority
from local_runtime.workers import Invocation, Pool

log = logging.getLogger("local_runtime.streams")


@dataclass
class StreamMapping:
    logical_id: str
    kind: str  # "dynamodb" | "kinesis"
    source_arn: str  # as the template names it (the events' eventSourceARN)
    function_arn: str
    role_arn: str
    batch_size: int = 100
    window_s: float = 0.0
    starting_position: str = "LATEST"
    bisect: bool = False
    max_retries: int = -1  # -1: until the records expire
    max_age_s: int = -1
    report_failures: bool = False
    on_failure_arn: str | None = None
    filters: list[str] = field(default_factory=list)  # FilterCriteria patterns (JSON)


class StreamPoller:
    def __init__(
        self,
        mapping: StreamMapping,
        pool: Pool,
        clients: Callable[[str], Any],
        region: str,
        wait_s: float = 0.5,
        background_nice: int = 0,
    ) -> None:
        self.mapping = mapping
        self.pool = pool
        self._clients = clients
        self.region = region
        self.wait_s = wait_s
        self.background_nice = background_nice  # its threads' (priority.py)
        self._patterns = [EventPattern.load(pattern) for pattern in mapping.filters]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ shards
    def _client(self) -> Any:
        return self._clients("dynamodbstreams" if self.mapping.kind == "dynamodb" else "kinesis")

    def _stream(self) -> dict[str, str]:
        """The real stream's identifier in moto (a table's stream ARN carries its creation time)."""
        name = self.mapping.source_arn.split(":", 5)[5]
        if self.mapping.kind == "dynamodb":
            table = name.split("/")[1]
            arn = self._clients("dynamodb").describe_table(TableName=table)["Table"].get("LatestStreamArn")
            if not arn:
                raise LookupError(f"{self.mapping.logical_id}: table {table} has no stream enabled")
            return {"StreamArn": arn}
        return {"StreamName": name.split("/", 1)[1]}

    def start(self) -> None:
        stream = self._stream()
        client = self._client()
        shards = client.describe_stream(**stream)["StreamDescription"]["Shards"]
        position = "TRIM_HORIZON" if self.mapping.starting_position == "TRIM_HORIZON" else "LATEST"
        for shard in shards:
            iterator = client.get_shard_iterator(
                **stream, ShardId=shard["ShardId"], ShardIteratorType=position
            )
            thread = threading.Thread(
                target=self._poll,
                args=(shard["ShardId"], iterator["ShardIterator"]),
                name=f"stream-{self.mapping.logical_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _poll(self, shard_id: str, iterator: str) -> None:
        priority.enter_background(self.background_nice)
        client = self._client()
        pending: list[dict[str, Any]] = []
        first_pending = 0.0  # when the oldest pending record was read: the batching window runs from it
        while not self._stop.is_set() and iterator:
            try:
                response = client.get_records(ShardIterator=iterator, Limit=self.mapping.batch_size)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: reading shard %s failed", self.mapping.logical_id, shard_id)
                self._stop.wait(1)
                continue
            iterator = response.get("NextShardIterator")
            records = [self._record(shard_id, r) for r in response.get("Records", [])]
            if records and not pending:
                first_pending = time.monotonic()
            pending += records
            if not pending:
                self._stop.wait(self.wait_s)
                continue
            waited = time.monotonic() - first_pending
            if len(pending) < self.mapping.batch_size and waited < self.mapping.window_s:
                self._stop.wait(min(self.wait_s, self.mapping.window_s - waited))  # gather more first
                continue
            batch, pending = pending[: self.mapping.batch_size], pending[self.mapping.batch_size :]
            first_pending = time.monotonic()
            self._process(shard_id, batch)

    # ------------------------------------------------------------------ batches
    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        records = [r for r in batch if self._wanted(r)]
        if records:
            self._deliver(shard_id, records, attempt=0)

    def _wanted(self, record: dict[str, Any]) -> bool:
        if not self._patterns:
            return True
        subject = dict(record)
        if self.mapping.kind == "kinesis":  # patterns on `data` apply to the decoded JSON
            try:
                subject["data"] = json.loads(base64.b64decode(record["kinesis"]["data"]))
            except ValueError:
                subject["data"] = record["kinesis"]["data"]
        return any(pattern.matches_event(subject) for pattern in self._patterns)

    def _deliver(self, shard_id: str, records: list[dict[str, Any]], attempt: int) -> None:
        """Invoke until the batch succeeds, halving it on failure when bisecting; what still fails after
        the retries goes to the on-failure destination."""
        while not self._stop.is_set():
            invocation = self.pool.invoke({"Records": records}, f"{self.mapping.kind} {self._name()}")
            failed_from = self._failed_from(invocation, records)
            if failed_from is None:
                return
            records = records[failed_from:]
            attempt += 1
            if self._exhausted(records, attempt):
                self._on_failure(shard_id, records, invocation, attempt)
                return
            if self.mapping.bisect and len(records) > 1:
                half = len(records) // 2
                self._deliver(shard_id, records[:half], attempt)
                self._deliver(shard_id, records[half:], attempt)
                return
            self._stop.wait(0.2)

    def _failed_from(self, invocation: Invocation, records: list[dict[str, Any]]) -> int | None:
        """None when the batch succeeded; else the index to retry from."""
        if not invocation.ok:
            return 0
        result = invocation.result
        failures = (
            result.get("batchItemFailures")
            if self.mapping.report_failures and isinstance(result, dict)
            else None
        )
        if not failures:
            return None
        numbers = [self._sequence(r) for r in records]
        failed = [str(f.get("itemIdentifier")) for f in failures]
        if any(f not in numbers for f in failed):
            return 0  # an unknown or empty identifier: Lambda retries the whole batch
        return min(numbers.index(f) for f in failed)

    def _exhausted(self, records: list[dict[str, Any]], attempt: int) -> bool:
        if self.mapping.max_retries >= 0 and attempt > self.mapping.max_retries:
            return True
        if self.mapping.max_age_s >= 0:
            oldest = min(self._arrival(r) for r in records)
            return time.time() - oldest > self.mapping.max_age_s
        return False

    def _on_failure(
        self, shard_id: str, records: list[dict[str, Any]], invocation: Invocation, attempts: int
    ) -> None:
        info_key = "DDBStreamBatchInfo" if self.mapping.kind == "dynamodb" else "KinesisBatchInfo"
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.mapping.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if not invocation.ok else "",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            info_key: {
                "shardId": shard_id,
                "startSequenceNumber": self._sequence(records[0]),
                "endSequenceNumber": self._sequence(records[-1]),
                "approximateArrivalOfFirstRecord": _iso(self._arrival(records[0])),
                "approximateArrivalOfLastRecord": _iso(self._arrival(records[-1])),
                "batchSize": len(records),
                "streamArn": self.mapping.source_arn,
            },
        }
        destination = self.mapping.on_failure_arn
        log.warning("%s: %d record(s) failed %d time(s)", self.mapping.logical_id, len(records), attempts)
        if destination and ":sqs:" in destination:
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(document))
        elif destination and ":sns:" in destination:
            self._clients("sns").publish(TopicArn=destination, Message=json.dumps(document))

    # ------------------------------------------------------------------ records
    def _name(self) -> str:
        return self.mapping.source_arn.split(":", 5)[5].split("/")[1]

    def _record(self, shard_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        if self.mapping.kind == "dynamodb":
            dynamodb = dict(raw["dynamodb"])
            created = dynamodb.get("ApproximateCreationDateTime")
            if isinstance(created, datetime):
                dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
            return {
                "eventID": raw["eventID"],
                "eventName": raw["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": self.region,
                "dynamodb": dynamodb,
                "eventSourceARN": self.mapping.source_arn,
            }
        arrived = raw.get("ApproximateArrivalTimestamp")
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": raw["PartitionKey"],
                "sequenceNumber": raw["SequenceNumber"],
                "data": base64.b64encode(raw["Data"]).decode(),
                "approximateArrivalTimestamp": arrived.timestamp()
                if isinstance(arrived, datetime)
                else time.time(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{raw['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.mapping.role_arn,
            "awsRegion": self.region,
            "eventSourceARN": self.mapping.source_arn,
        }

    def _sequence(self, record: dict[str, Any]) -> str:
        if self.mapping.kind == "dynamodb":
            return str(record["dynamodb"]["SequenceNumber"])
        return str(record["kinesis"]["sequenceNumber"])

    def _arrival(self, record: dict[str, Any]) -> float:
        if self.mapping.kind == "dynamodb":
            return float(record["dynamodb"].get("ApproximateCreationDateTime") or time.time())
        return float(record["kinesis"]["approximateArrivalTimestamp"])


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
