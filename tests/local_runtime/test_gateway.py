"""The AWS endpoint on its own (moto behind it): SigV4 verification and S3's missing-key rule."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from local_runtime.gateway import Gateway, Identity
from local_runtime.iam import Policy, Recorder
from local_runtime.runtime import free_port, start_moto

REGION, ACCOUNT = "us-east-1", "123456789012"
BUCKET, TABLE, QUEUE = "gw-bucket", "gw-table", "gw-queue"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
READ_UPLOADS = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET_ARN}/uploads/*"}
LIST_UPLOADS = {
    "Effect": "Allow",
    "Action": "s3:ListBucket",
    "Resource": BUCKET_ARN,
    "Condition": {"StringLike": {"s3:prefix": ["uploads/*"]}},
}
POLICIES = {
    "Reader": [READ_UPLOADS],
    "Lister": [READ_UPLOADS, LIST_UPLOADS],
    "Uploader": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET_ARN}/uploads/*"}],
    "Worker": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": TABLE_ARN},
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
        },
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET_ARN}/uploads/*"},
    ],
}
SIGNATURE_MISMATCH = "SignatureDoesNotMatch"


class Endpoint:
    def __init__(self, gateway: Gateway, moto_port: int, recording: Path) -> None:
        self.gateway = gateway
        self.moto_port = moto_port
        self.recording = recording

    def key_of(self, function: str) -> str:
        return f"ASIA{function.upper():0<16}"[:20]

    def client(
        self, service: str, function: str | None = None, secret: str | None = None, **kwargs: Any
    ) -> Any:
        """A boto3 client signing as `function` (its issued credentials unless `secret` is given) or as a
        developer (any key, any secret) when function is None."""
        if function is None:
            credentials = {"aws_access_key_id": "developer", "aws_secret_access_key": "anything"}
        else:
            identity = self.gateway.identities[self.key_of(function)]
            credentials = {
                "aws_access_key_id": self.key_of(function),
                "aws_secret_access_key": secret or identity.secret_key,
                "aws_session_token": identity.session_token,
            }
        return boto3.client(
            service,
            endpoint_url=self.gateway.url,
            region_name=REGION,
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
            **credentials,
            **kwargs,
        )

    def moto(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://localhost:{self.moto_port}",
            region_name=REGION,
            aws_access_key_id="admin",
            aws_secret_access_key="admin",
        )

    def refused(self) -> list[dict[str, Any]]:
        lines = self.recording.read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if not entry["allowed"]]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    state = tmp_path_factory.mktemp("gateway")
    moto_port = free_port()
    moto = start_moto(moto_port, state / "moto.log")
    recorder = Recorder(state / "recording.jsonl")
    gateway = Gateway(moto_port, REGION, ACCOUNT, recorder)
    endpoint = Endpoint(gateway, moto_port, state / "recording.jsonl")
    for function, statements in POLICIES.items():
        principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{function}Role/{function}"
        gateway.identities[endpoint.key_of(function)] = Identity(function, principal, Policy(statements))
    gateway.start()
    try:
        endpoint.moto("s3").create_bucket(Bucket=BUCKET)
        endpoint.moto("s3").put_object(Bucket=BUCKET, Key="uploads/there.txt", Body=b"here")
        endpoint.moto("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        endpoint.moto("sqs").create_queue(QueueName=QUEUE)
        yield endpoint
    finally:
        gateway.stop()
        recorder.close()
        moto.kill()
        moto.wait()


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
    )


# ---------------------------------------------------------------------- S3: a missing key without ListBucket


def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(endpoint: Endpoint) -> None:
    reader, lister = endpoint.client("s3", "Reader"), endpoint.client("s3", "Lister")
    missing = {"Bucket": BUCKET, "Key": "uploads/missing.txt"}

    assert error_of(lambda: reader.head_object(**missing))[:2] == (403, "403")  # HEAD: no body, "Forbidden"
    status, code, message = error_of(lambda: reader.get_object(**missing))
    assert (status, code) == (403, "AccessDenied")
    assert f"s3:ListBucket on resource: {BUCKET_ARN}" in message
    assert error_of(lambda: lister.head_object(**missing))[:2] == (404, "404")
    assert error_of(lambda: lister.get_object(**missing))[:2] == (404, "NoSuchKey")
    # An existing key reads the same for both.
    for client in (reader, lister):
        assert client.get_object(Bucket=BUCKET, Key="uploads/there.txt")["Body"].read() == b"here"


def test_list_bucket_with_an_s3_prefix_condition_allows_only_listings_under_the_prefix(
    endpoint: Endpoint,
) -> None:
    lister = endpoint.client("s3", "Lister")
    listed = lister.list_objects_v2(Bucket=BUCKET, Prefix="uploads/")
    assert [item["Key"] for item in listed["Contents"]] == ["uploads/there.txt"]
    assert error_of(lambda: lister.list_objects_v2(Bucket=BUCKET, Prefix="private/"))[1] == "AccessDenied"
    # Without a prefix the condition key is absent: StringLike does not hold, as in IAM.
    assert error_of(lambda: lister.list_objects_v2(Bucket=BUCKET))[1] == "AccessDenied"


# ---------------------------------------------------------------------- presigned URLs


def presigned_put(endpoint: Endpoint, key: str = "uploads/ticket.txt", **client_options: Any) -> str:
    return endpoint.client("s3", "Uploader", **client_options).generate_presigned_url(
        "put_object",
        Params={"Bucket": BUCKET, "Key": key, "ContentType": "text/plain", "ContentLength": 11},
        ExpiresIn=300,
        HttpMethod="PUT",
    )


def s3_error(response: requests.Response) -> tuple[int, str]:
    code = response.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in response.text else ""
    return response.status_code, code


def test_a_presigned_put_is_refused_when_anything_signed_changes(endpoint: Endpoint) -> None:
    url = presigned_put(endpoint)
    assert "content-length%3Bcontent-type%3Bhost" in url  # what the signature covers
    plain = {"Content-Type": "text/plain"}

    too_big = requests.put(url, data=b"x" * 40, headers=plain, timeout=10)
    other_type = requests.put(url, data=b"hello world", headers={"Content-Type": "text/html"}, timeout=10)
    parts = urlsplit(url)
    other_key = urlunsplit(parts._replace(path=parts.path.replace("ticket.txt", "other.txt")))
    moved = requests.put(other_key, data=b"hello world", headers=plain, timeout=10)
    as_get = requests.get(url, headers=plain, timeout=10)
    unsigned = requests.put(
        f"{endpoint.gateway.url}/{BUCKET}/uploads/ticket.txt", data=b"hello world", timeout=10
    )

    for refused in (too_big, other_type, moved, as_get):
        assert s3_error(refused) == (403, SIGNATURE_MISMATCH), refused.text
    assert "<CanonicalRequest>" in too_big.text and "<StringToSign>" in too_big.text
    assert s3_error(unsigned) == (403, "AccessDenied")
    for key in ("uploads/ticket.txt", "uploads/other.txt"):
        with pytest.raises(ClientError):
            endpoint.moto("s3").head_object(Bucket=BUCKET, Key=key)

    honest = requests.put(url, data=b"hello world", headers=plain, timeout=10)
    assert honest.status_code == 200, honest.text
    assert (
        endpoint.moto("s3").get_object(Bucket=BUCKET, Key="uploads/ticket.txt")["Body"].read()
        == b"hello world"
    )
    refusals = [e for e in endpoint.refused() if e["function"] == "Uploader"]
    assert {e["via"] for e in refusals} == {"signature:signature"}
    assert len(refusals) == 4


def test_an_expired_presigned_url_is_refused(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    url = presigned_put(endpoint, key="uploads/late.txt")
    now = endpoint.gateway.clock()
    monkeypatch.setattr(endpoint.gateway, "clock", lambda: now + 301)

    late = requests.put(url, data=b"hello world", headers={"Content-Type": "text/plain"}, timeout=10)

    assert s3_error(late) == (403, "AccessDenied")
    assert "<Message>Request has expired</Message>" in late.text and "<X-Amz-Expires>300<" in late.text


def test_a_url_signed_with_a_wrong_secret_or_without_the_session_token_is_refused(endpoint: Endpoint) -> None:
    forged = presigned_put(endpoint, key="uploads/forged.txt", secret="not-the-issued-secret")
    identity = endpoint.gateway.identities[endpoint.key_of("Uploader")]
    tokenless = boto3.client(
        "s3",
        endpoint_url=endpoint.gateway.url,
        region_name=REGION,
        aws_access_key_id=endpoint.key_of("Uploader"),
        aws_secret_access_key=identity.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ).generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "uploads/forged.txt"})

    answers = [
        requests.put(url, data=b"hello world", headers={"Content-Type": "text/plain"}, timeout=10)
        for url in (forged, tokenless)
    ]

    assert s3_error(answers[0]) == (403, SIGNATURE_MISMATCH)
    assert s3_error(answers[1]) == (403, "InvalidToken")


# ---------------------------------------------------------------------- header-signed calls, per service


def test_each_service_refuses_a_wrong_secret_with_its_own_error(endpoint: Endpoint) -> None:
    queue_url = endpoint.moto("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"]
    calls: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "dynamodb": ("dynamodb", lambda c: c.get_item(TableName=TABLE, Key={"pk": {"S": "x"}})),
        "sqs": ("sqs", lambda c: c.send_message(QueueUrl=queue_url, MessageBody="m")),
        "events": (
            "events",
            lambda c: c.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]),
        ),
        "s3": ("s3", lambda c: c.put_object(Bucket=BUCKET, Key="uploads/h.txt", Body=b"h")),
    }
    expected = {
        "dynamodb": (400, "InvalidSignatureException"),
        "sqs": (403, SIGNATURE_MISMATCH),
        "events": (400, "InvalidSignatureException"),
        "s3": (403, SIGNATURE_MISMATCH),
    }
    for name, (service, call) in calls.items():
        call(endpoint.client(service, "Worker"))  # the issued credentials pass
        forged = endpoint.client(service, "Worker", secret="wrong")
        status, code, _ = error_of(lambda c=forged, call=call: call(c))
        assert (status, code) == expected[name], name
    actions = {e["action"] for e in endpoint.refused() if e["function"] == "Worker"}
    assert {"dynamodb:GetItem", "sqs:SendMessage", "events:PutEvents", "s3:PutObject"} <= actions


def test_a_request_is_verified_against_the_host_the_client_signed(endpoint: Endpoint) -> None:
    identity = endpoint.gateway.identities[endpoint.key_of("Worker")]
    body = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "x"}}})
    request = AWSRequest(
        method="POST",
        url=endpoint.gateway.url + "/",
        data=body,
        headers={"X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"},
    )
    credentials = Credentials(endpoint.key_of("Worker"), identity.secret_key, identity.session_token)
    SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)

    def send(host: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", endpoint.gateway.port, timeout=10)
        try:
            connection.request(
                "POST", "/", body=body, headers={**dict(request.headers.items()), "Host": host}
            )
            return connection.getresponse().status
        finally:
            connection.close()

    assert send(f"localhost:{endpoint.gateway.port}") == 200
    assert send(f"127.0.0.1:{endpoint.gateway.port}") == 400  # InvalidSignatureException


def test_skewed_clocks_and_missing_credentials_are_refused(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = endpoint.client("dynamodb", "Worker")
    s3 = endpoint.client("s3", "Worker")
    now = endpoint.gateway.clock()
    monkeypatch.setattr(endpoint.gateway, "clock", lambda: now + 16 * 60)
    status, code, message = error_of(lambda: worker.get_item(TableName=TABLE, Key={"pk": {"S": "x"}}))
    assert (status, code) == (400, "InvalidSignatureException") and message.startswith("Signature expired")
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="uploads/s.txt", Body=b"s"))[:2] == (
        403,
        "RequestTimeTooSkewed",
    )
    monkeypatch.undo()
    anonymous = requests.post(
        endpoint.gateway.url + "/",
        data="{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
        },
        timeout=10,
    )
    assert (anonymous.status_code, anonymous.json()["__type"].split("#")[1]) == (
        400,
        "MissingAuthenticationTokenException",
    )


def test_a_developer_key_needs_a_signature_in_time_but_any_secret(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    developer = endpoint.client("s3")
    developer.put_object(Bucket=BUCKET, Key="private/dev.txt", Body=b"dev")  # not restricted by IAM
    url = developer.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "private/dev.txt"}, ExpiresIn=60
    )
    assert requests.get(url, timeout=10).content == b"dev"
    now = endpoint.gateway.clock()
    monkeypatch.setattr(endpoint.gateway, "clock", lambda: now + 61)
    assert s3_error(requests.get(url, timeout=10)) == (403, "AccessDenied")
