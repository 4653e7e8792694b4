"""Schedules, API route matching, resource inventory, layer importability: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_runtime import model
from local_runtime.api import Method, RestApi
from local_runtime.eventbridge import Schedule, ScheduleError
from local_runtime.runtime import Options, Runtime
from local_runtime.templates import App
from local_runtime.workers import layer_problem
from tests.local_runtime.sample_app import data_template, service_template, write_assembly


def test_cron_daily_at_two_and_rate() -> None:
    daily = Schedule.parse("cron(0 2 * * ? *)")
    assert daily.next_after(datetime(2026, 11, 23, 7, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 2, 0, tzinfo=UTC
    )
    assert daily.next_after(datetime(2026, 11, 23, 1, 59, 30, tzinfo=UTC)) == datetime(
        2026, 11, 23, 2, 0, tzinfo=UTC
    )
    weekdays = Schedule.parse("cron(15 10 ? * MON-FRI *)")
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert weekdays.next_after(saturday) == datetime(2026, 11, 30, 10, 15, tzinfo=UTC)  # Monday
    every = Schedule.parse("cron(0/15 * * * ? *)")
    assert every.next_after(datetime(2026, 1, 1, 0, 1, tzinfo=UTC)).minute == 15
    rate = Schedule.parse("rate(5 minutes)")
    assert rate.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    with pytest.raises(ScheduleError, match="L, W and #"):
        Schedule.parse("cron(0 2 L * ? *)")
    with pytest.raises(ScheduleError):
        Schedule.parse("at(2026-01-01T00:00:00)")


def test_route_matching_prefers_literals_then_parameters_then_greedy() -> None:
    methods = {
        p: {"GET": Method("GET", p, "proxy")} for p in ("/users", "/users/{userId}", "/users/me", "/{proxy+}")
    }
    api = RestApi("Api", "S", "abc", "api", "dev", [], methods)
    assert api.match("/users/me") == ("/users/me", {})
    assert api.match("/users/42") == ("/users/{userId}", {"userId": "42"})
    assert api.match("/users") == ("/users", {})
    assert api.match("/files/a/b") == ("/{proxy+}", {"proxy": "files/a/b"})
    narrow = RestApi("Api", "S", "abc", "api", "dev", [], {"/users/{userId}": methods["/users/{userId}"]})
    assert narrow.match("/users/1/extra") is None
    assert narrow.match("/users") is None


def test_inventory_lists_skips_and_unknown_types() -> None:
    service = service_template()
    service["Resources"]["Mystery"] = {"Type": "AWS::AppSync::GraphQLApi", "Properties": {}}
    app = App.from_templates({"Test-Data": data_template(), "Test-Service": service})
    inventory = model.inventory(app)
    assert inventory.skipped["AWS::CloudWatch::Alarm"] == (1, "CloudWatch alarms are not emulated")
    assert inventory.handled["Custom::S3BucketNotifications"] == 1
    assert inventory.unknown == [("Test-Service", "Mystery", "AWS::AppSync::GraphQLApi")]


def test_unknown_resource_type_fails_start_with_a_clear_error(tmp_path: Path) -> None:
    service = service_template()
    service["Resources"]["Mystery"] = {"Type": "AWS::AppSync::GraphQLApi", "Properties": {}}
    assembly = write_assembly(tmp_path / "cdk.out", service)
    runtime = Runtime(
        Options(assembly_dir=assembly, state_dir=tmp_path / "state", clock=False, echo=lambda _: None)
    )
    with pytest.raises(
        model.UnsupportedResourcesError, match=r"Test-Service/Mystery: AWS::AppSync::GraphQLApi"
    ):
        runtime.start()
    runtime.stop()


def test_layer_with_foreign_native_code_is_not_importable(tmp_path: Path) -> None:
    assembly = write_assembly(tmp_path / "cdk.out")
    assert layer_problem(assembly / "asset.common" / "python") is None
    problem = layer_problem(assembly / "asset.arm" / "python")
    assert problem is not None and "aarch64" in problem
    so = tmp_path / "py" / "pydantic_core" / "_core.cpython-314-x86_64-linux-gnu.so"
    so.parent.mkdir(parents=True)
    so.write_bytes(b"")
    assert "another Python" in (layer_problem(tmp_path / "py") or "")


def test_api_proxy_event_shape_binary_and_required_parameters() -> None:
    import base64
    import json as _json

    import requests

    from local_runtime.api import ApiServer
    from local_runtime.request_validation import Validation
    from local_runtime.workers import Invocation

    seen: list[dict] = []

    def invoke(arn: str, event: dict, trigger: str) -> Invocation:
        seen.append(event)
        body = base64.b64encode(b"\x89PNG").decode()
        result = {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": body}
        return Invocation("r", True, {**result, "isBase64Encoded": True})

    required = Validation(required_query=["mode"])
    method = Method("POST", "/files/{name}", "proxy", function_arn="arn:fn", validation=required)
    api = RestApi("Api", "S", "abc123", "api", "dev", ["image/*"], {"/files/{name}": {"POST": method}})
    server = ApiServer(api, invoke, "123456789012")
    server.start()
    try:
        missing = requests.post(f"{server.base_url}files/a%20b", data=b"x", timeout=5)
        assert missing.status_code == 400
        assert missing.json() == {"message": "Missing required request parameters: [mode]"}
        response = requests.post(
            f"{server.base_url}files/a%20b?mode=x&mode=y",
            data=b"\x00\x01",
            headers={"Content-Type": "image/png"},
            timeout=5,
        )
        assert response.status_code == 200 and response.content == b"\x89PNG"
    finally:
        server.stop()
    event = seen[0]
    assert event["resource"] == "/files/{name}" and event["path"] == "/files/a%20b"
    assert event["pathParameters"] == {"name": "a b"}
    assert event["multiValueQueryStringParameters"] == {"mode": ["x", "y"]}
    assert event["queryStringParameters"] == {"mode": "y"}
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x00\x01"
    context = event["requestContext"]
    assert context["stage"] == "dev" and context["requestId"] and context["path"] == "/dev/files/a%20b"
    assert _json.loads(_json.dumps(event)) == event


def test_event_source_mapping_needs_the_roles_sqs_grants(tmp_path: Path) -> None:
    from local_runtime.iam import Policy
    from local_runtime.templates import TemplateError

    def strip_receive(_arn: str, policy: Policy) -> Policy:
        return Policy([s for s in policy.statements if "sqs:ReceiveMessage" not in str(s.get("Action"))])

    assembly = write_assembly(tmp_path / "cdk.out")
    options = Options(assembly_dir=assembly, state_dir=tmp_path / "state", clock=False, echo=lambda _: None)
    options.policy_override = strip_receive
    runtime = Runtime(options)
    with pytest.raises(
        TemplateError, match=r"WorkerMapping: Worker's role does not allow sqs:ReceiveMessage"
    ):
        runtime.start()
    runtime.stop()


def test_usage_meter_refills_buckets_counts_quotas_per_period_and_honours_method_throttles() -> None:
    from local_runtime.api_keys import ApiKey, Quota, Throttle, UsageMeter, UsagePlan

    now = [1_700_000_000.0]  # 2023-11-14T22:13:20Z, a Tuesday
    meter = UsageMeter(clock=lambda: now[0])
    plan = UsagePlan(
        "p",
        throttle=Throttle(rate=2, burst=3),
        quota=Quota(limit=8, period="DAY", offset=2),
        method_throttles={"v1": {"/items/POST": Throttle(rate=1, burst=1)}},
    )
    key = ApiKey("k", "value", plan)

    def admit(path: str = "/items", method: str = "GET") -> str | None:
        return meter.admit(key, "v1", path, method)

    assert [admit() for _ in range(4)] == [None, None, None, "THROTTLED"]  # a bucket of 3
    now[0] += 0.5  # refilled by one token at 2 per second
    assert [admit(), admit()] == [None, "THROTTLED"]
    assert [admit("/items", "POST"), admit("/items", "POST")] == [None, "THROTTLED"]  # its own bucket
    now[0] += 10
    # 5 admitted so far; the first day allows 8 - Offset 2 = 6.
    assert [admit(), admit()] == [None, "QUOTA_EXCEEDED"]
    now[0] += 2 * 3600  # the next UTC day: the full limit of 8
    assert [admit() for _ in range(3)] == [None, None, None]
    assert ApiKey("free", "v").plan is None and meter.admit(ApiKey("free", "v"), "v1", "/", "GET") is None


def test_stage_method_settings_give_each_method_the_most_specific_limits() -> None:
    from local_runtime.api_keys import Throttle
    from local_runtime.stage_throttling import StageMeter, method_throttles

    throttles = method_throttles(
        [
            {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
            {"ResourcePath": "/~1users~1{id}", "HttpMethod": "GET", "ThrottlingBurstLimit": 5},
            {"ResourcePath": "/~1", "HttpMethod": "*", "ThrottlingRateLimit": 2},
            {"ResourcePath": "/~1off", "HttpMethod": "*", "ThrottlingRateLimit": -1},
            {"ResourcePath": "/~1logs", "HttpMethod": "*", "LoggingLevel": "INFO"},  # no limits of its own
        ]
    )
    assert throttles.for_method("/users/{id}", "GET") == Throttle(50, 5)
    assert throttles.for_method("/users/{id}", "DELETE") == Throttle(50, 100)
    assert throttles.for_method("/", "POST") == Throttle(2, 100)
    assert throttles.for_method("/logs", "GET") == Throttle(50, 100)
    assert throttles.for_method("/off", "GET") is None
    assert method_throttles([]).for_method("/", "GET") is None

    now = [0.0]
    meter = StageMeter(clock=lambda: now[0])
    tight = Throttle(rate=2, burst=2)
    assert [meter.admit("v1", "/a", "GET", tight) for _ in range(3)] == [True, True, False]
    assert meter.admit("v1", "/a", "POST", tight) and meter.admit("v2", "/a", "GET", tight)  # own buckets
    now[0] += 0.5  # one token back at 2 per second
    assert [meter.admit("v1", "/a", "GET", tight) for _ in range(2)] == [True, False]
    assert meter.admit("v1", "/free", "GET", None)  # a method no setting throttles
    off = StageMeter(clock=lambda: now[0], enabled=False)  # Options.stage_throttling=False
    assert all(off.admit("v1", "/a", "GET", tight) for _ in range(5))


def test_the_local_certificate_is_found_from_any_directory_and_serves_localhost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers run in their code's folder: AWS_CA_BUNDLE must not be relative to the runtime's."""
    import contextlib
    import ssl

    from local_runtime import tls

    monkeypatch.chdir(tmp_path)
    cert, key = tls.local_certificate(Path("state") / "tls")
    assert cert.is_absolute() and key.is_absolute() and oct(key.stat().st_mode)[-3:] == "600"
    assert tls.local_certificate(Path("state") / "tls") == (cert, key)  # made once
    client = ssl.create_default_context(cafile=str(cert))
    server = tls.server_context(cert, key)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):  # the handshake, bytes passed by hand: verifies the chain and the host name
        for side in (client_side, server_side):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(outgoing.read())
        incoming.write(server_out.read())
    assert client_side.version() is not None and client_side.getpeercert()["subject"][0][0][1] == "localhost"
