"""Builders for the events AWS sends to functions, in their real shapes."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote_plus


class LambdaContext:
    """The attributes Powertools reads from the Lambda context object."""

    def __init__(self, function_name: str = "test-function", timeout_ms: int = 10_000) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._timeout_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


DEFAULT_ENDPOINT = "abc123defg.execute-api.eu-west-1.amazonaws.com"


def cognito_claims(sub: str, *, email: str | None = None, groups: tuple[str, ...] = ()) -> dict[str, str]:
    """requestContext.authorizer.claims as API Gateway's Cognito user pool authorizer passes an ID token's
    claims to a REST (v1) proxy integration: every value a string, `cognito:groups` comma-separated."""
    claims = {
        "sub": sub,
        "aud": "example-app-client-id",
        "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
        "token_use": "id",
        "email": email or f"{sub[:8]}@example.com",
        "email_verified": "true",
        "cognito:username": sub,
        "auth_time": "1763884800",
        "iat": "Sun Nov 23 08:00:00 UTC 2025",
        "exp": "Sun Nov 23 09:00:00 UTC 2025",
    }
    if groups:
        claims["cognito:groups"] = ",".join(groups)
    return claims


def api_event(
    method: str,
    path: str,
    *,
    claims: dict[str, str] | None = None,
    resource: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    domain: str = DEFAULT_ENDPOINT,
    sent_path: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event; `claims`: the caller the authorizer verified (None: none);
    `headers`: request headers besides Content-Type and Host (e.g. a browser's Origin).

    `sent_path` is the path the client requested (requestContext.path): by default the stage and `path`,
    as on the API's default endpoint; behind a custom domain mapping, the base path (if any) and `path`.
    """
    request_id = str(uuid.uuid4())
    all_headers = {"Content-Type": "application/json", "Host": domain, **(headers or {})}
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/dev{path}" if sent_path is None else sent_path,
            "stage": "dev",
            "domainName": domain,
            "accountId": "123456789012",
            "identity": {"sourceIp": "127.0.0.1"},
            **({"authorizer": {"claims": claims}} if claims else {}),
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends for messages received from `queue_arn`."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": message.get("Attributes", {}).get(
                        "ApproximateReceiveCount", "1"
                    ),
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1700000000000",
                },
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "eu-west-1",
            }
            for message in messages
        ]
    }


def eventbridge_event(
    source: str, detail_type: str, detail: Any, *, event_id: str | None = None
) -> dict[str, Any]:
    """The event EventBridge delivers to a rule's Lambda target."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-23T08:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def s3_record(
    event_name: str,
    key: str,
    *,
    bucket: str,
    sequencer: str,
    size: int | None = None,
    event_source: str = "aws:s3",
) -> dict[str, Any]:
    """One record of an S3 event notification; the key is URL-encoded as S3 does (space → '+')."""
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if size is not None:
        s3_object |= {"size": size, "eTag": "0123456789abcdef0123456789abcdef"}
    return {
        "eventVersion": "2.1",
        "eventSource": event_source,
        "awsRegion": "eu-west-1",
        "eventTime": "2025-03-14T10:00:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": s3_object,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def scheduled_event(time: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends to its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/Orders-Dev-DailyReport"],
        "detail": {},
    }
