"""Asynchronous invocation as Lambda does it: retries on error, then the on-failure destination or DLQ;
a success goes to the on-success destination. A destination (SQS, SNS, a function, an event bus) gets
Lambda's invocation record, sent with the function's execution role, which must allow it.
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from local_runtime import priority
from local_runtime.targets import TARGET_ACTIONS, send, target_service
from local_runtime.workers import FunctionSpec, Invocation, Pool

log = logging.getLogger("local_runtime.async")

# Lambda waits about 1 and 2 minutes between async attempts; locally the waits are short.
DEFAULT_RETRY_DELAYS = (0.5, 1.0)


class AsyncInvoker:
    def __init__(
        self,
        pools: dict[str, Pool],
        client: Callable[[str], Any],
        service_call: Callable[[FunctionSpec, str, str], bool],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        background_nice: int = 0,
    ) -> None:
        self.pools = pools  # by function ARN
        self._client = client  # service name -> the runtime's own boto3 client
        self._service_call = service_call
        self.retry_delays = list(retry_delays)
        self._executor = ThreadPoolExecutor(
            max_workers=16,
            thread_name_prefix="async-invoke",
            initializer=priority.enter_background,  # what an event source started (priority.py)
            initargs=(background_nice,),
        )
        self._stopping = threading.Event()

    def invoke(self, function_arn: str, event: Any, trigger: str) -> Future[Invocation | None]:
        if self._stopping.is_set():
            raise RuntimeError("the runtime is stopping: no new asynchronous invocations")
        return self._executor.submit(self._run, function_arn, event, trigger)

    def _run(self, function_arn: str, event: Any, trigger: str) -> Invocation | None:
        pool = self.pools[function_arn]
        spec = pool.spec
        received = time.monotonic()
        attempts = 1 + spec.async_max_retries
        last: Invocation | None = None
        for attempt in range(attempts):
            if self._stopping.is_set():
                return last
            retry = trigger if attempt == 0 else f"{trigger} (retry {attempt})"
            last = pool.invoke(event, retry, invoked_arn=function_arn)
            if last.ok:
                if spec.on_success_arn:
                    record = self._record(spec, event, last, attempt + 1, "Success")
                    self._destination(spec, spec.on_success_arn, record, "Success")
                return last
            if attempt + 1 < attempts:
                delay = (
                    self.retry_delays[min(attempt, len(self.retry_delays) - 1)] if self.retry_delays else 0
                )
                if time.monotonic() - received + delay > spec.async_max_age_s:
                    break
                self._stopping.wait(delay)
        assert last is not None
        self._on_failure(spec, event, last, attempts)
        return last

    @staticmethod
    def _record(
        spec: FunctionSpec, event: Any, invocation: Invocation, attempts: int, condition: str
    ) -> dict:
        """Lambda's invocation record for a destination."""
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not invocation.ok:
            response["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": f"{spec.arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": response,
            "responsePayload": invocation.result if invocation.ok else invocation.error,
        }

    def _destination(self, spec: FunctionSpec, arn: str, record: dict[str, Any], outcome: str) -> None:
        """The record, sent to a destination with the function's role (lost, logged, if it may not)."""
        action = TARGET_ACTIONS.get(target_service(arn), "events:PutEvents")
        if not self._service_call(spec, action, arn):
            log.error(
                "%s: its role may not %s on %s; the %s record is lost", spec.display, action, arn, outcome
            )
            return
        event = ("lambda", f"Lambda Function Invocation Result - {outcome}", [f"{spec.arn}:$LATEST"])
        trigger = f"{outcome.lower()} destination of {spec.display}"
        send(arn, json.dumps(record), self._client, self.invoke, trigger, event)
        log.info("%s: %s record sent to %s", spec.display, outcome.lower(), arn)

    def _on_failure(self, spec: FunctionSpec, event: Any, invocation: Invocation, attempts: int) -> None:
        error = invocation.error or {}
        if spec.on_failure_arn:
            record = self._record(spec, event, invocation, attempts, "RetriesExhausted")
            self._destination(spec, spec.on_failure_arn, record, "Failure")
        elif spec.dead_letter_arn and ":sqs:" in spec.dead_letter_arn:
            attributes = {
                "RequestID": {"DataType": "String", "StringValue": invocation.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": str(error.get("errorMessage", ""))[:1000],
                },
            }
            self._send(spec, spec.dead_letter_arn, json.dumps(event), attributes)
        else:
            log.warning(
                "%s: async event dropped after %d attempts (no DLQ or on-failure destination)",
                spec.display,
                attempts,
            )

    def _send(self, spec: FunctionSpec, queue_arn: str, body: str, attributes: dict[str, Any]) -> None:
        if not self._service_call(spec, "sqs:SendMessage", queue_arn):
            log.error(
                "%s: its role may not sqs:SendMessage to %s; the failed event is lost",
                spec.display,
                queue_arn,
            )
            return
        sqs = self._client("sqs")
        url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        log.info("%s: failed async event sent to %s", spec.display, queue_arn.rsplit(":", 1)[-1])

    def stopping(self) -> None:
        """No more retries: the runtime is stopping."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)


def new_event_id() -> str:
    return str(uuid.uuid4())
