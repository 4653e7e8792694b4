"""local_runtime.moto_server: moto with its hot spots made cheap answers exactly as moto as released.

The same script runs against both in fresh interpreters (the patch changes moto module-wide): SQS
visibility, delay, retention expiry and redrive, DynamoDB and EventBridge calls, the backend lookup.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.runtime import free_port, start_moto
from tests.conftest import PROJECT_ROOT
from tests.helpers import put_expecting_continue

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

    def expressions(table):
        # Each expression twice or more: the patched server answers the repeats from its parse cache.
        def attempt(call, **kwargs):
            try:
                return call(TableName="t", **kwargs).get("Attributes", "ok")
            except Exception as error:  # moto raises some parse errors as they are (a server answers 500)
                return [type(error).__name__, str(error)]
        key = {"id": {"S": "a"}}
        count = dict(
            Key=key,
            UpdateExpression="SET n = if_not_exists(n, :zero) + :one, #s = :s",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeNames={"#s": "status"},
            ReturnValues="ALL_NEW",
        )
        out = [
            attempt(table.update_item, **count, ExpressionAttributeValues={
                ":zero": {"N": "0"}, ":one": {"N": "1"}, ":s": {"S": f"s{n}"}})
            for n in (1, 2, 2, 3)
        ]
        for want in ("s3", "s3", "s9", "s3"):  # same text, other values: a new answer each time
            out.append(attempt(
                table.update_item,
                Key=key,
                UpdateExpression="REMOVE gone",
                ConditionExpression="#s = :want OR attribute_not_exists(#s)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":want": {"S": want}},
                ReturnValues="UPDATED_OLD",
            ))
        for _ in range(2):  # invalid expressions fail every time, with moto's message
            out.append(attempt(table.put_item, Item={"id": {"S": "b"}},
                               ConditionExpression="begins_with(id)"))
            out.append(attempt(table.update_item, Key=key, UpdateExpression="SET = 1"))
            out.append(attempt(table.update_item, Key=key, UpdateExpression="SET #missing = :one",
                               ExpressionAttributeValues={":one": {"N": "1"}}))
            out.append(attempt(table.put_item, Item={"id": {"S": "c"}, "b": {"B": b"1"}},
                               ConditionExpression="attribute_not_exists(id) OR b = :b",
                               ExpressionAttributeValues={":b": {"B": b"1"}}))
        for limit in ("s2", "s3", "s2"):
            out.append(table.scan(TableName="t", FilterExpression="#s = :s", ExpressionAttributeNames={
                "#s": "status"}, ExpressionAttributeValues={":s": {"S": limit}})["Count"])
        return out

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
        seen["expressions"] = expressions(table)
        events = boto3.client("events", region_name="us-east-1")
        target = sqs.create_queue(QueueName="target")["QueueUrl"]
        target_arn = sqs.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
        events.put_targets(
            Rule="r", Targets=[{"Id": "q", "Arn": target_arn["Attributes"]["QueueArn"]}]
        )
        seen["events_failed"] = [
            events.put_events(
                Entries=[{"Source": "s", "DetailType": "d", "Detail": json.dumps({"n": n})}]
            )["FailedEntryCount"]
            for n in range(2)  # the second renders the target's template with the cached JSONPaths
        ]
        delivered = sqs.receive_message(QueueUrl=target, MaxNumberOfMessages=10)["Messages"]
        seen["delivered"] = sorted(
            json.dumps({k: v for k, v in json.loads(m["Body"]).items() if k not in ("id", "time")})
            for m in delivered
        )
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
    assert len(released["delivered"]) == 2 and '"detail": {"n": 1}' in released["delivered"][1]
    # Repeated update/condition expressions: the counter counts, other values give other answers,
    # invalid expressions keep failing.
    expressions = released["expressions"]
    assert [u["n"] for u in expressions[:4]] == [{"N": str(n)} for n in range(1, 5)]
    assert [r if isinstance(r, str) else r[0] for r in expressions[4:8]] == [
        "ok",
        "ok",
        "ConditionalCheckFailedException",
        "ok",
    ]
    assert expressions[8][0] == "ValueError" and "Wrong number of arguments" in expressions[8][1]
    assert "Syntax error" in expressions[9][1] and expressions[10] == ["KeyError", "'#missing'"]
    assert expressions[8:12] == expressions[12:16] and expressions[11] == "ok"  # with a binary value
    assert expressions[-3:] == [0, 1, 0]


def test_an_unexpected_moto_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import utils

    from local_runtime import moto_server

    monkeypatch.setattr(utils, "unix_time", lambda dt=None: 0.0)  # not moto's code any more
    with pytest.raises(RuntimeError, match=r"moto changed moto\.core\.utils\.unix_time"):
        moto_server.apply()


LEAN_SCRIPT = textwrap.dedent(
    """
    import json
    from werkzeug.test import EnvironBuilder
    from local_runtime import moto_server

    app = moto_server._app()
    SCOPE = "Credential=AKID/20240101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"

    def environ(service, target, body, **headers):
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0",
                   "Authorization": "AWS4-HMAC-SHA256 " + SCOPE.format(service), **headers}
        data = body if isinstance(body, str) else json.dumps(body)
        return EnvironBuilder(method="POST", path="/", headers=headers, data=data).get_environ()

    def through_flask(env):
        started = []
        body = b"".join(app(env, lambda status, headers, exc_info=None: started.append((status, headers))))
        status, headers = started[0]
        return int(status.split()[0]), status.split(" ", 1)[1], headers, body

    def shown(answer):  # a request id is new on every answer
        code, reason, headers, body = answer
        return [code, reason, [[k, v] for k, v in headers if k.lower() != "x-amzn-requestid"], body.decode()]

    TABLE = {"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
             "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
             "BillingMode": "PAY_PER_REQUEST"}
    through_flask(environ("dynamodb", "DynamoDB_20120810.CreateTable", TABLE))
    calls = [
        ("dynamodb", "DynamoDB_20120810.ListTables", {}),
        ("dynamodb", "DynamoDB_20120810.PutItem", {"TableName": "t", "Item": {"pk": {"S": "a"}}}),
        ("dynamodb", "DynamoDB_20120810.GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
        ("dynamodb", "DynamoDB_20120810.UpdateItem", {"TableName": "t", "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "SET n = :one", "ConditionExpression": "attribute_not_exists(pk)",
            "ExpressionAttributeValues": {":one": {"N": "1"}}}),
        ("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "missing"}),
        ("sqs", "AmazonSQS.CreateQueue", {"QueueName": "q"}),
        ("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": "missing"}),
        ("sqs", "AmazonSQS.ReceiveMessage", {"QueueUrl": "http://localhost/123456789012/q"}),
        ("events", "AWSEvents.ListRules", {}),
        ("events", "AWSEvents.DescribeRule", {"Name": "missing"}),
    ]
    pairs = []
    for service, target, body in calls:
        flask = shown(through_flask(environ(service, target, body)))
        lean = shown(moto_server.json_protocol_answer(app, environ(service, target, body)))
        pairs.append([target, flask, lean])
    from_a_page = environ("dynamodb", "DynamoDB_20120810.ListTables", {}, Origin="http://localhost:5173")
    print(json.dumps({"pairs": pairs, "page": moto_server.json_protocol_answer(app, from_a_page)}))
    """
)


def test_json_protocol_calls_are_answered_as_moto_s_flask_app_answers_them() -> None:
    """The server answers `POST /` calls with X-Amz-Target from moto's handlers without Flask's request
    cycle (json_protocol_answer): same status, headers and body, errors included, as through Flask."""
    result = subprocess.run(
        [sys.executable, "-c", LEAN_SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for target, flask, lean in seen["pairs"]:
        assert lean == flask, target
    statuses = [flask[0] for _, flask, _ in seen["pairs"]]
    assert 200 in statuses and 400 in statuses  # successes and service errors both compared
    assert seen["page"] is None  # a page's call (Origin) takes Flask's way: flask-cors answers its CORS


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`python -m local_runtime.moto_server`, started as the runtime starts it."""
    port = free_port()
    process = start_moto(port, tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_the_server_keeps_a_connection_across_requests_of_every_shape(server_port: int) -> None:
    """One kept-alive connection carries a chunked upload, a HEAD (a length but no body) and GETs:
    each request is read whole, so none eats the next."""
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
    # moto does not check signatures, but answers an anonymous GET of a private object with 403
    host = {
        "Host": f"localhost:{server_port}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }

    def call(method: str, path: str, body: object = None, headers: dict[str, str] | None = None) -> tuple:
        connection.request(method, path, body=body, headers={**host, **(headers or {})})
        response = connection.getresponse()
        return response, response.read()

    response, _ = call("PUT", "/bucket")
    assert response.status == 200
    first_socket = connection.sock
    chunks = iter([b"hello ", b"kept-alive ", b"world"])  # an iterable body is sent chunked
    response, _ = call("PUT", "/bucket/key", chunks, {"x-amz-meta-owner_id": "ada"})
    assert response.status == 200
    response, body = call("HEAD", "/bucket/key")
    assert (response.status, response.getheader("Content-Length"), body) == (200, "22", b"")
    # moto's handler keeps an S3 metadata name with an underscore, as S3 does
    assert response.getheader("x-amz-meta-owner_id") == "ada"
    response, body = call("GET", "/bucket/key")
    assert (response.status, body) == (200, b"hello kept-alive world")
    response, body = call("GET", "/bucket/missing")
    assert response.status == 404 and b"NoSuchKey" in body
    assert connection.sock is first_socket and not response.will_close


def test_an_upload_waiting_for_100_continue_gets_it_before_sending_its_body(server_port: int) -> None:
    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }

    def call(method: str, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
        connection.request(method, path, headers={"Host": f"localhost:{server_port}", **signed})
        response = connection.getresponse()
        return response.status, response.read()

    assert call("PUT", "/continued")[0] == 200
    interim, status, _ = put_expecting_continue(server_port, "/continued/key", signed, b"uploaded")
    assert (interim, status) == (b"HTTP/1.1 100 Continue", 200)
    assert call("GET", "/continued/key") == (200, b"uploaded")


def _client(port: int, service: str) -> Any:
    """A boto3 client straight to the moto server on `port` (no runtime, no gateway)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="AKIDLOCAL",
        aws_secret_access_key="local",
    )


def _concurrent_increments(port: int, threads: int = 16, each: int = 60) -> int:
    """`threads` clients each ADD 1 to one item `each` times, all at once; the final count."""

    def client() -> object:
        return _client(port, "dynamodb")

    table = f"counts-{threads}-{each}"
    client().create_table(  # type: ignore[attr-defined]
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def increment(_: int) -> None:
        dynamodb = client()
        for _ in range(each):
            dynamodb.update_item(  # type: ignore[attr-defined]
                TableName=table,
                Key={"id": {"S": "a"}},
                UpdateExpression="SET n = if_not_exists(n, :zero) + :one",
                ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
            )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(increment, range(threads)))
    item = client().get_item(TableName=table, Key={"id": {"S": "a"}})["Item"]  # type: ignore[attr-defined]
    return int(item["n"]["N"])


def test_concurrent_updates_of_one_item_are_atomic_as_in_dynamodb(server_port: int) -> None:
    """DynamoDB applies each write atomically; moto's backend reads, checks and writes without a lock,
    so concurrent increments of one counter (the projection's orderCount) were lost under load."""
    assert _concurrent_increments(server_port) == 16 * 60


def test_forked_servers_are_separate_servers_with_their_own_state_and_ids(tmp_path) -> None:
    """The suite's runtimes fork moto from one pre-imported process (moto_forks): each fork must be what
    a freshly started server is: its own state, its own random ids, stopped on its own."""
    from local_runtime import moto_forks

    assert moto_forks.enabled()  # tests/conftest.py
    ports = [free_port(), free_port()]
    first, second = (start_moto(port, tmp_path / f"{port}.log") for port in ports)
    try:
        assert isinstance(first, moto_forks.ForkedServer) and first.pid != second.pid
        one, two = _client(ports[0], "sqs"), _client(ports[1], "sqs")
        queue = one.create_queue(QueueName="only-in-the-first")["QueueUrl"]
        assert two.list_queues().get("QueueUrls", []) == []
        twin = two.create_queue(QueueName="only-in-the-first")["QueueUrl"]
        sent = [
            client.send_message(QueueUrl=url, MessageBody="x")["MessageId"]
            for client, url in ((one, queue), (two, twin))
        ]
        assert sent[0] != sent[1]  # each fork reseeds moto's random ids
        first.terminate()
        assert first.wait(5) == -1 and first.poll() == -1
        assert two.get_queue_url(QueueName="only-in-the-first")["QueueUrl"] == twin  # the other one serves on
    finally:
        for server in (first, second):
            server.kill()
            server.wait(5)


def test_concurrent_receives_give_each_message_to_one_receiver_and_keep_none_back(server_port: int) -> None:
    """SQS gives a message to one receiver until its visibility timeout ends, and one in flight was given
    to someone. moto's receive marks and copies messages without a lock, so a queue's concurrent pollers
    got a message twice, or left one in flight that no one was given (back only after the visibility
    timeout: the orders queue's 3 minutes)."""
    from concurrent.futures import ThreadPoolExecutor

    from local_runtime import priority

    sqs = _client(server_port, "sqs")
    queue = sqs.create_queue(QueueName="concurrent-receives", Attributes={"VisibilityTimeout": "300"})
    url = queue["QueueUrl"]
    messages = 1000
    for start in range(0, messages, 10):
        batch = [{"Id": str(n), "MessageBody": str(start + n)} for n in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=batch)
    received: list[str] = []

    def poll(_: int) -> None:
        client = _client(server_port, "sqs")
        # As a background poller's calls are marked: the server then switches threads every 1 ms.
        priority.mark_background(client, 1)
        while got := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received.extend(message["Body"] for message in got)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(poll, range(8)))
    in_flight = "ApproximateNumberOfMessagesNotVisible"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[in_flight])["Attributes"]
    assert sorted(received, key=int) == [str(n) for n in range(messages)]
    assert attributes[in_flight] == str(messages)
