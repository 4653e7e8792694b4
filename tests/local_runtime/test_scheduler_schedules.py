"""EventBridge Scheduler schedules (AWS::Scheduler::Schedule): the target is called with the schedule's
execution role (trusted by Scheduler, its policy allowing the target action), Lambda asynchronously with
the target's Input; a failing delivery is retried, then goes to the target's DLQ with Scheduler's error
attributes. Expressions: rate, cron in a time zone, at()."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local_runtime.runtime import Runtime
from local_runtime.schedules import SchedulerSchedule, ScheduleRunner, ScheduleTarget, _date
from tests.helpers import eventually, python_function, running_stack

TICK = """
import json

def handler(event, context):
    print("tick", json.dumps(event))
"""
SCHEDULER_TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
}


def _role(*statements: dict[str, Any], trust: dict[str, Any] = SCHEDULER_TRUST) -> dict[str, Any]:
    policies = [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}] if statements else []
    return {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust, "Policies": policies}}


def _schedule(target: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Scheduler::Schedule",
        "Properties": {
            "ScheduleExpression": "rate(1 hour)",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            **props,
        },
    }


INVOKE_TICK = {
    "Effect": "Allow",
    "Action": "lambda:InvokeFunction",
    "Resource": {"Fn::GetAtt": ["Tick", "Arn"]},
}
TEMPLATE = {
    "Resources": {
        "Tick": python_function("asset.tick"),
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "schedule-dlq"}},
        "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "scheduled-jobs"}},
        "InvokerRole": _role(
            INVOKE_TICK,
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Jobs", "Arn"]}},
        ),
        "PowerlessRole": _role(),
        "LambdaTrustRole": _role(
            INVOKE_TICK,
            trust={
                "Statement": [
                    {**SCHEDULER_TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}
                ]
            },
        ),
        "Nightly": _schedule(
            {
                "Arn": {"Fn::GetAtt": ["Tick", "Arn"]},
                "RoleArn": {"Fn::GetAtt": ["InvokerRole", "Arn"]},
                "Input": json.dumps({"job": "nightly"}),
            },
            Name="nightly",
            ScheduleExpression="cron(0 2 * * ? *)",
            ScheduleExpressionTimezone="Europe/Paris",
        ),
        "ToQueue": _schedule(
            {
                "Arn": {"Fn::GetAtt": ["Jobs", "Arn"]},
                "RoleArn": {"Fn::GetAtt": ["InvokerRole", "Arn"]},
                "Input": "cleanup",
            },
            Name="to-queue",
        ),
        "Denied": _schedule(
            {
                "Arn": {"Fn::GetAtt": ["Tick", "Arn"]},
                "RoleArn": {"Fn::GetAtt": ["PowerlessRole", "Arn"]},
                "RetryPolicy": {"MaximumRetryAttempts": 1},
                "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
            },
            Name="denied",
        ),
        "Untrusted": _schedule(
            {
                "Arn": {"Fn::GetAtt": ["Tick", "Arn"]},
                "RoleArn": {"Fn::GetAtt": ["LambdaTrustRole", "Arn"]},
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            },
            Name="untrusted",
        ),
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    with running_stack(tmp_path_factory, "Sched", TEMPLATE, {"asset.tick": TICK}) as started:
        yield started


def _fire(runtime: Runtime, name: str) -> dict[str, Any]:
    return runtime.console.fire(name)


def test_a_schedule_invokes_its_function_with_its_input_through_its_role(runtime: Runtime) -> None:
    assert _fire(runtime, "nightly") == {"schedule": "nightly", "targets": 1}
    log = runtime.options.state_dir / "logs" / "Tick.log"
    eventually(lambda: log.exists() and '"job": "nightly"' in log.read_text(), timeout_s=20, what="the tick")
    assert _fire(runtime, "to-queue")["targets"] == 1
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="scheduled-jobs")["QueueUrl"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["cleanup"]


def test_a_role_that_may_not_call_the_target_sends_the_input_to_the_dlq(runtime: Runtime) -> None:
    assert _fire(runtime, "denied")["targets"] == 0
    sqs = runtime.client("sqs")
    url = sqs.get_queue_url(QueueName="schedule-dlq")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert attributes["SCHEDULE_ARN"].endswith(":schedule/default/denied")
    # A role Scheduler may not assume fails as well, whatever its policy allows.
    assert _fire(runtime, "untrusted")["targets"] == 0


def test_expressions_rate_cron_in_a_time_zone_and_at() -> None:
    def runner(expression: str, timezone: str = "UTC") -> tuple[ScheduleRunner, SchedulerSchedule]:
        schedule = SchedulerSchedule(
            "S", "s", "default", expression, timezone, True, ScheduleTarget("arn:aws:sqs:us-east-1:1:q", "r")
        )
        return ScheduleRunner(
            [schedule], set(), lambda *a: None, lambda s: None, lambda *a: True, "1", "us-east-1"
        ), schedule

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    paris, schedule = runner("cron(0 2 * * ? *)", "Europe/Paris")
    assert paris._next(schedule, now) == datetime(
        2026, 12, 7, 1, 0, tzinfo=UTC
    )  # 02:00 in Paris, winter time
    rate, schedule = runner("rate(5 minutes)")
    assert rate._next(schedule, now) == datetime(2026, 12, 6, 12, 5, tzinfo=UTC)
    once, schedule = runner("at(2026-12-24T18:00:00)", "America/New_York")
    assert once._next(schedule, now) == datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    assert once._next(schedule, datetime(2027, 1, 1, tzinfo=UTC)) is None  # at() fires once
    # A StartDate without an offset is UTC (comparable with the clock's aware times).
    later, schedule = runner("rate(5 minutes)")
    schedule.start = _date("2026-12-07T00:00:00")
    assert later._next(schedule, now) == datetime(2026, 12, 7, 0, 5, tzinfo=UTC)
