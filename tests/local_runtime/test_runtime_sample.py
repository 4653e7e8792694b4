"""The runtime on the sample assembly: workers, event sources, IAM, as AWS would drive them."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.__main__ import grant_report, main
from local_runtime.runtime import BYTECODE_DIR_VARIABLE, Options, Runtime

TABLE = "Test-Data-Table"


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def item(runtime: Runtime, pk: str, sk: str = "v1") -> dict | None:
    return (
        runtime.client("dynamodb")
        .get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        .get("Item")
    )


def drain(runtime: Runtime, queue: str, want: int, timeout: float = 15.0) -> list[dict]:
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got: list[dict] = []

    def enough() -> bool:
        got.extend(
            sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
            ).get("Messages", [])
        )
        return len(got) >= want

    wait_for(enough, timeout)
    return got


def echo(runtime: Runtime, event: dict) -> Any:
    return runtime.invoke(runtime.find_function("Echo").arn, event)


def test_startup_lists_handled_and_skipped_kinds(sample_runtime: Runtime) -> None:
    output = "\n".join(sample_runtime.output)  # type: ignore[attr-defined]
    assert "AWS::CloudWatch::Alarm" in output and "SKIPPED: CloudWatch alarms are not emulated" in output
    assert "Custom::S3BucketNotifications" in output
    assert "built for aarch64" in output  # the arm64-only layer is reported, not put on sys.path
    assert "redrive Test-Data-Queue -> Test-Data-Dlq after 2 receives" in output
    cors = sample_runtime.client("s3").get_bucket_cors(Bucket="test-data-bucket")["CORSRules"][0]
    assert cors["ExposeHeaders"] == ["ETag"] and cors["MaxAgeSeconds"] == 60  # CloudFormation names mapped
    ttl = sample_runtime.client("dynamodb").describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    index = sample_runtime.client("dynamodb").describe_table(TableName=TABLE)["Table"][
        "GlobalSecondaryIndexes"
    ][0]
    assert index["IndexName"] == "byGsi"
    # CDK's bucket-notifications provider is handled natively, not run as a function
    assert all("BucketNotificationsHandler" not in s.logical_id for s in sample_runtime.specs)


def test_worker_sees_only_its_code_layers_env_and_a_lambda_context(sample_runtime: Runtime) -> None:
    result = echo(sample_runtime, {"hello": "world"})
    assert result.ok, result.error
    body = result.result
    spec = sample_runtime.find_function("Echo")
    assert body["path"][0] == str(spec.code_dir)
    assert body["path"][1].endswith("asset.common/python") and body["common"] == "from-layer"
    assert not any("asset.arm" in p for p in body["path"])
    env = body["env"]
    assert env["GREETING"] == "hello-us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "Test-Service-Echo" == body["functionName"]
    assert env["AWS_ACCESS_KEY_ID"] == spec.access_key
    assert env["AWS_ENDPOINT_URL"] == sample_runtime.gateway.url  # type: ignore[union-attr]
    assert "PYTEST_CURRENT_TEST" not in env and "HOME" not in env  # nothing leaks from the host
    assert body["memory"] == 256 and body["arn"] == spec.arn
    assert 0 < body["remaining"] <= 2000
    assert body["event"] == {"hello": "world"}


def test_a_functions_asset_folders_get_no_bytecode_cache(sample_runtime: Runtime) -> None:
    """`cdk deploy` zips an asset's folder in cdk.out as it is: the workers cache their bytecode in the
    runtime's state dir instead (Lambda's own code folders are read-only), or in the cache that
    LOCAL_RUNTIME_BYTECODE_DIR names (this suite's runtimes share one)."""
    assert echo(sample_runtime, {"hello": "bytecode"}).ok
    spec = sample_runtime.find_function("Echo")
    assert [cache for folder in (spec.code_dir, *spec.layer_dirs) for cache in folder.rglob("*.pyc")] == []
    cached = Path(os.environ[BYTECODE_DIR_VARIABLE]) / spec.code_dir.resolve().relative_to("/")
    assert list(cached.rglob("*.pyc")), "the workers cache the function's bytecode in the shared cache"


def test_without_a_shared_bytecode_cache_a_runtime_keeps_its_own(
    sample_assembly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BYTECODE_DIR_VARIABLE)
    runtime = Runtime(Options(assembly_dir=sample_assembly, state_dir=tmp_path / "state"))
    assert runtime.bytecode_dir == (tmp_path / "state" / "bytecode").resolve()


def test_warm_reuse_then_timeout_kill_and_cold_restart(sample_runtime: Runtime) -> None:
    first, second = echo(sample_runtime, {}), echo(sample_runtime, {})
    assert second.result["pid"] == first.result["pid"] and not second.cold
    started = time.monotonic()
    timed_out = echo(sample_runtime, {"sleep": 10})
    assert time.monotonic() - started < 4
    assert not timed_out.ok and timed_out.error_type == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in timed_out.error["errorMessage"]
    assert not _alive(first.result["pid"])
    log = (sample_runtime.options.state_dir / "logs" / "Echo.log").read_text()
    assert "Task timed out after 2.00 seconds" in log
    after = echo(sample_runtime, {})
    assert (
        after.ok and after.cold and after.init_ms is not None and after.result["pid"] != first.result["pid"]
    )


def test_handler_error_keeps_the_worker_warm(sample_runtime: Runtime) -> None:
    warm = echo(sample_runtime, {})
    failed = echo(sample_runtime, {"raise": "bad input"})
    assert not failed.ok and failed.error_type == "ValueError"
    assert failed.error["errorMessage"] == "boom: bad input" and failed.error["stackTrace"]
    again = echo(sample_runtime, {})
    assert again.result["pid"] == warm.result["pid"] and not again.cold
    marshal = echo(sample_runtime, {"unserializable": True})
    assert marshal.error_type == "Runtime.MarshalError"
    # Lambda's 6 MB response limit for a synchronous invocation.
    assert echo(sample_runtime, {"large": 6_000_000}).ok
    too_large = echo(sample_runtime, {"large": 6_300_000})
    assert too_large.error_type == "Function.ResponseSizeTooLarge"
    assert "(6291556 bytes)" in too_large.error["errorMessage"]


def test_crashed_worker_fails_the_invocation_and_is_replaced(sample_runtime: Runtime) -> None:
    warm = echo(sample_runtime, {})
    crashed = echo(sample_runtime, {"crash": True})
    assert crashed.error_type == "Runtime.ExitError" and "exit status 3" in crashed.error["errorMessage"]
    assert not _alive(warm.result["pid"])
    after = echo(sample_runtime, {})
    assert after.ok and after.cold and after.result["pid"] != warm.result["pid"]
    log = (sample_runtime.options.state_dir / "logs" / "Echo.log").read_text()
    assert "Runtime exited with error: exit status 3" in log


def test_sqs_batches_partial_failures_and_redrive(sample_runtime: Runtime, user_client: Callable) -> None:
    sqs = user_client("sqs")
    url = sqs.get_queue_url(QueueName="Test-Data-Queue")["QueueUrl"]
    run = uuid.uuid4().hex[:6]
    good = [f"{run}-{i}" for i in range(7)]
    entries = [{"Id": str(i), "MessageBody": json.dumps({"id": oid})} for i, oid in enumerate(good)]
    entries.append({"Id": "f", "MessageBody": json.dumps({"id": f"{run}-fail", "fail": True})})
    sqs.send_message_batch(QueueUrl=url, Entries=entries[:8])
    for oid in good:
        stored = wait_for(lambda oid=oid: item(sample_runtime, f"order#{oid}"))
        assert int(stored["batch"]["N"]) <= 5  # BatchSize
    dead = drain(sample_runtime, "Test-Data-Dlq", 1, timeout=20)
    assert [json.loads(m["Body"])["id"] for m in dead] == [f"{run}-fail"]
    assert item(sample_runtime, f"order#{run}-fail") is None


def test_sqs_poison_message_fails_the_batch_and_lands_in_the_dlq(
    sample_runtime: Runtime, user_client: Callable
) -> None:
    sqs = user_client("sqs")
    url = sqs.get_queue_url(QueueName="Test-Data-Queue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "p1", "poison": True}))
    dead = drain(sample_runtime, "Test-Data-Dlq", 1, timeout=20)
    assert json.loads(dead[0]["Body"])["id"] == "p1"


def test_s3_notifications_create_delete_prefix_and_async_dlq(
    sample_runtime: Runtime, user_client: Callable
) -> None:
    s3 = user_client("s3")
    s3.put_object(Bucket="test-data-bucket", Key="uploads/a b+c.txt", Body=b"hello")
    stored = wait_for(lambda: item(sample_runtime, "file#uploads/a b+c.txt"))
    assert stored["size"]["N"] == "5"
    s3.put_object(Bucket="test-data-bucket", Key="other/x.txt", Body=b"x")
    s3.delete_object(Bucket="test-data-bucket", Key="uploads/a b+c.txt")
    wait_for(lambda: item(sample_runtime, "file#uploads/a b+c.txt") is None)
    assert item(sample_runtime, "file#other/x.txt") is None  # outside the prefix filter
    s3.put_object(Bucket="test-data-bucket", Key="uploads/fail.txt", Body=b"x")
    dead = drain(sample_runtime, "test-async-dlq", 1)
    assert json.loads(dead[0]["Body"])["Records"][0]["s3"]["object"]["key"] == "uploads/fail.txt"
    assert dead[0]["MessageAttributes"]["ErrorMessage"]["StringValue"] == "cannot index uploads/fail.txt"


def test_iam_enforced_per_call_and_presigned_upload(sample_runtime: Runtime) -> None:
    result = sample_runtime.invoke(sample_runtime.find_function("Prober").arn, {})
    assert result.ok, result.error
    answers = result.result
    assert answers["get"] == "ok"
    assert answers["query_index"] == "AccessDeniedException"  # index ARN not granted, only the table
    assert answers["put_item"] == "AccessDeniedException"  # explicit Deny beats dynamodb:*
    assert answers["s3_put"] == "ok"
    assert answers["s3_get_other"] == "AccessDenied"
    assert answers["put_events"] == "ok"
    assert answers["send_denied"] == "AccessDenied"
    upload = requests.put(answers["presigned"], data=b"via presigned", timeout=10)
    assert upload.status_code == 200
    wait_for(lambda: item(sample_runtime, "file#uploads/presigned.txt"))


def test_eventbridge_rule_pattern_targets_and_target_dlq(
    sample_runtime: Runtime, user_client: Callable
) -> None:
    events = user_client("events")
    events.put_events(
        Entries=[
            {
                "Source": "orders",
                "DetailType": "OrderCreated",
                "Detail": json.dumps({"id": "e1"}),
                "EventBusName": "test-bus",
            },
            {
                "Source": "other",
                "DetailType": "OrderCreated",
                "Detail": json.dumps({"id": "e2"}),
                "EventBusName": "test-bus",
            },
        ]
    )
    stored = wait_for(lambda: item(sample_runtime, "event#e1", "OrderCreated"))
    assert stored["source"]["S"] == "orders"
    dead = drain(sample_runtime, "Test-Data-RuleDlq", 1)  # the target whose function does not exist
    assert json.loads(dead[0]["Body"])["detail"] == {"id": "e1"}
    assert "function:gone" in dead[0]["MessageAttributes"]["TARGET_ARN"]["StringValue"]
    time.sleep(1.5)
    assert item(sample_runtime, "event#e2", "OrderCreated") is None  # moto's matcher filtered it


def test_fire_schedule_now_via_the_cli(sample_runtime: Runtime) -> None:
    state_dir = str(sample_runtime.options.state_dir)
    assert main(["--state-dir", state_dir, "fire-schedule", "DailyReport"]) == 0
    key = f"reports/{datetime.now(UTC):%Y-%m-%d}.json"
    s3 = sample_runtime.client("s3")
    body = wait_for(lambda: _object(s3, "test-data-bucket", key))
    assert json.loads(body) == {"source": "aws.events"}
    assert main(["--state-dir", state_dir, "fire-schedule", "NoSuchRule"]) == 1
    assert (
        main(["--state-dir", state_dir, "fire-schedule", "Report"]) == 0
    )  # the function its schedule targets
    nxt = sample_runtime.scheduler.schedules[sample_runtime.scheduler.rules[0].arn]  # type: ignore[union-attr]
    assert nxt.expression == "cron(0 2 * * ? *)"


def test_invoke_cli_and_unused_grants(sample_runtime: Runtime, tmp_path: Any) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"from": "cli"}))
    assert (
        main(["--state-dir", str(sample_runtime.options.state_dir), "invoke", "Echo", "--event", str(event)])
        == 0
    )
    assert sample_runtime.invoke(sample_runtime.find_function("Prober").arn, {}).ok
    recording = sample_runtime.options.state_dir / "recording.jsonl"
    entries = [json.loads(line) for line in recording.read_text().splitlines()]
    report = grant_report(sample_runtime.app, entries)
    queue = "arn:aws:sqs:us-east-1:123456789012:Test-Data-Queue"
    # Granted but never called by the prober (its Query went to an index the grant does not cover).
    assert {(a, r) for a, r, _ in report["Prober"]["unexplained"]} == {
        ("dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/Test-Data-Table"),
        ("sqs:ReceiveMessage", queue),
    }
    # The poller's own calls count as used; CDK's extra consume grants are explained, not flagged.
    assert ("sqs:ReceiveMessage", queue) not in {(a, r) for a, r, _ in report["Worker"]["unexplained"]}
    assert ("sqs:ChangeMessageVisibility", queue) in {(a, r) for a, r, _ in report["Worker"]["explained"]}


def _object(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
