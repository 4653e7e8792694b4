"""Lambda's Invoke API, for a function (or a developer) calling another function with the SDK
(`lambda.invoke`): after the IAM gateway's check of `lambda:InvokeFunction`, the runtime's workers run it.

- `RequestResponse`: 200 with the result, or with `X-Amz-Function-Error: Unhandled` and the error
  document; `LogType: Tail` adds the last 4 KB of its log lines in `X-Amz-Log-Result`;
- `Event`: 202, then the asynchronous invocation (retries, destinations, DLQ); `DryRun`: 204;
- an unknown function, alias or version: 404 ResourceNotFoundException; a payload that is not JSON:
  400 InvalidRequestContentException; a payload over 6 MB (1 MB for `Event`): 413
  RequestEntityTooLargeException.
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from local_runtime.workers import MAX_RESPONSE_BYTES, FunctionPools

Answer = tuple[int, dict[str, str], bytes]
MAX_EVENT_PAYLOAD_BYTES = 1024 * 1024  # an asynchronous invocation's payload (API_Invoke.html)


def _error(status: int, error_type: str, message: str) -> Answer:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    return status, headers, json.dumps({"Type": "User", "Message": message}).encode()


def invoke_api(
    pools: FunctionPools,
    invoke_async: Callable[[str, Any, str], Any],
    function_arn: str,
    headers: dict[str, str],
    payload: bytes,
) -> Answer:
    if function_arn not in pools:
        return _error(404, "ResourceNotFoundException", f"Function not found: {function_arn}")
    kind = headers.get("x-amz-invocation-type", "RequestResponse")
    limit = MAX_EVENT_PAYLOAD_BYTES if kind == "Event" else MAX_RESPONSE_BYTES
    if len(payload) > limit:
        message = (
            f"{len(payload)} byte payload is too large for the {kind} invocation type (limit {limit} bytes)"
        )
        return _error(413, "RequestEntityTooLargeException", message)
    try:
        event = json.loads(payload or b"{}")
    except ValueError as error:
        return _error(
            400, "InvalidRequestContentException", f"Could not parse request body into json: {error}"
        )
    if kind == "DryRun":
        return 204, {}, b""
    if kind == "Event":
        invoke_async(function_arn, event, "lambda Invoke (Event)")
        return 202, {}, b""
    invocation = pools[function_arn].invoke(event, "lambda Invoke", invoked_arn=function_arn)
    answer = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
    if headers.get("x-amz-log-type") == "Tail":
        tail = "".join(line if line.endswith("\n") else line + "\n" for line in invocation.logs)
        answer["X-Amz-Log-Result"] = base64.b64encode(tail.encode()[-4096:]).decode()
    if not invocation.ok:
        answer["X-Amz-Function-Error"] = "Unhandled"
        return 200, answer, json.dumps(invocation.error).encode()
    return 200, answer, json.dumps(invocation.result).encode()
