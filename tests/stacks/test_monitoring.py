"""Monitoring stack: every alarm's metric and threshold, the encrypted alarm topic, the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import load_stage_config
from tests.stacks.conftest import flatten, synthesize

CDK_CONTEXT = json.loads(Path("cdk.json").read_text())["context"]
FUNCTIONS = {
    "UsersApi": "<Service:UsersApiFunctionEA7DB7BA>",
    "OrdersApi": "<Service:OrdersApiFunction28E5008F>",
    "OrderProcessor": "<Service:OrderProcessorFunction6A10E4C8>",
    "OrderProjection": "<Service:OrderProjectionFunction6B7E8529>",
    "UploadsApi": "<Service:UploadsApiFunctionB2A4F836>",
    "FilesApi": "<Service:FilesApiFunctionC5C4FFEB>",
    "UploadIndexer": "<Service:UploadIndexerFunction5DD39ABF>",
    "DailyReport": "<Service:DailyReportFunction993BAE39>",
}
DEAD_LETTER_QUEUES = {
    "OrdersDLQ": "<Data:OrdersDLQ8E8CD9EE.QueueName>",
    "OrderProjectionDLQ": "<Data:OrderProjectionDLQED4AF06A.QueueName>",
    "UploadIndexerDlq": "<Data:UploadIndexerDlq1B4D5A7E.QueueName>",
    "DailyReportDlq": "<Data:DailyReportDlqE17BC784.QueueName>",
}


def alarms(stage_app) -> dict[str, dict]:
    """Alarm properties by construct id (the logical id without its hash)."""
    return {
        i[:-8]: a["Properties"]
        for i, a in stage_app.resources("Monitoring", "AWS::CloudWatch::Alarm").items()
    }


def topic_id(stage_app) -> str:
    (topic,) = stage_app.resources("Monitoring", "AWS::SNS::Topic")
    return topic


def dims(metric: dict) -> dict[str, str]:
    return {d["Name"]: flatten(d["Value"]) for d in metric.get("Dimensions", [])}


def simple(alarm: dict) -> tuple:
    return (
        alarm["Namespace"],
        alarm["MetricName"],
        dims(alarm),
        alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
        alarm["Period"],
    )


def math(alarm: dict) -> tuple[str, dict[str, tuple]]:
    (expression,) = (m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["ReturnData"] is not False
    inputs = {
        m["Id"]: (
            m["MetricStat"]["Metric"]["Namespace"],
            m["MetricStat"]["Metric"]["MetricName"],
            dims(m["MetricStat"]["Metric"]),
            m["MetricStat"]["Stat"],
            m["MetricStat"]["Period"],
        )
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    assert all(m["ReturnData"] is False for m in alarm["Metrics"] if "MetricStat" in m)
    return expression["Expression"], inputs


def test_there_is_exactly_one_alarm_per_dlq_per_function_signal_and_per_api_signal(stage_app):
    expected = {f"{q}Messages" for q in DEAD_LETTER_QUEUES}
    expected |= {f"{f}{signal}" for f in FUNCTIONS for signal in ("ErrorRate", "Throttles")}
    expected |= {"Api5xxRate", "ApiLatencyP90", "OrdersQueueOldestMessage"}
    assert set(alarms(stage_app)) == expected
    assert set(FUNCTIONS) == {i.split("Function")[0] for i in stage_app.service_functions()}


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery_and_ignores_missing_data(stage_app):
    topic = {"Ref": topic_id(stage_app)}
    for name, alarm in alarms(stage_app).items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm["OKActions"] == [topic], name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmDescription"], name


@pytest.mark.parametrize(("queue", "queue_name"), DEAD_LETTER_QUEUES.items())
def test_any_message_in_a_dlq_alarms_within_a_minute(stage_app, queue, queue_name):
    alarm = alarms(stage_app)[f"{queue}Messages"]
    assert simple(alarm) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": queue_name},
        "Maximum",
        60,
    )
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (0, 1, 1)


@pytest.mark.parametrize(("name", "function"), FUNCTIONS.items())
def test_each_functions_error_rate_above_one_percent_alarms(stage_app, name, function):
    alarm = alarms(stage_app)[f"{name}ErrorRate"]
    expression, inputs = math(alarm)
    assert expression == "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert inputs == {
        "errors": ("AWS/Lambda", "Errors", {"FunctionName": function}, "Sum", 300),
        "invocations": ("AWS/Lambda", "Invocations", {"FunctionName": function}, "Sum", 300),
    }
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (1, 1)


@pytest.mark.parametrize(("name", "function"), FUNCTIONS.items())
def test_any_throttle_of_a_function_alarms(stage_app, name, function):
    alarm = alarms(stage_app)[f"{name}Throttles"]
    assert simple(alarm) == ("AWS/Lambda", "Throttles", {"FunctionName": function}, "Sum", 300)
    assert alarm["Threshold"] == 0


def api_dimensions(stage_app) -> dict[str, str]:
    title = stage_app.stage.capitalize()
    (stage_id,) = stage_app.resources("Service", "AWS::ApiGateway::Stage")
    return {"ApiName": f"Orders-{title}-Api", "Stage": f"<Service:{stage_id}>"}


def test_api_5xx_rate_above_one_percent_alarms(stage_app):
    alarm = alarms(stage_app)["Api5xxRate"]
    expression, inputs = math(alarm)
    assert expression == "100 * errors"
    assert inputs == {"errors": ("AWS/ApiGateway", "5XXError", api_dimensions(stage_app), "Average", 300)}
    assert alarm["Threshold"] == 1


def test_api_p90_latency_above_the_stage_threshold_alarms(stage_app):
    threshold = load_stage_config(CDK_CONTEXT, stage_app.stage).api_p90_latency_ms
    alarm = alarms(stage_app)["ApiLatencyP90"]
    assert simple(alarm) == ("AWS/ApiGateway", "Latency", api_dimensions(stage_app), "p90", 300)
    assert alarm["Threshold"] == threshold == {"dev": 2000, "prod": 1000}[stage_app.stage]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)


def test_alarm_topic_is_kms_encrypted_ssl_only_and_cloudwatch_may_use_its_key(stage_app):
    resources = stage_app.templates["Monitoring"]["Resources"]
    topic = resources[topic_id(stage_app)]["Properties"]
    (key_id, key) = next(iter(stage_app.resources("Monitoring", "AWS::KMS::Key").items()))
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    (cloudwatch,) = (
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    )
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    (policy,) = stage_app.resources("Monitoring", "AWS::SNS::TopicPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Only prod has an alarmEmail in cdk.json (a placeholder: tests/stacks/test_alarm_destination.py).
    subscriptions = stage_app.resources("Monitoring", "AWS::SNS::Subscription").values()
    assert [s["Properties"]["Endpoint"] for s in subscriptions] == (
        ["alarms@app.example.com"] if stage_app.stage == "prod" else []
    )


def test_one_dashboard_shows_the_api_each_function_and_the_dlqs(stage_app):
    (dashboard,) = stage_app.resources("Monitoring", "AWS::CloudWatch::Dashboard").values()
    body = flatten(dashboard["Properties"]["DashboardBody"])
    for function in FUNCTIONS.values():
        assert body.count(function) == 6, function  # invocations/errors/throttles + p50/p90/p99 duration
    for queue in DEAD_LETTER_QUEUES.values():
        assert queue in body
    for metric in ("Count", "4XXError", "5XXError", "Latency"):
        assert f'"{metric}"' in body
    assert '"p90 alarm threshold"' in body


def test_an_alarm_email_subscribes_to_the_topic(tmp_path):
    context = json.loads(json.dumps(CDK_CONTEXT["stages"]))
    context["dev"]["alarmEmail"] = "oncall@example.com"
    app = synthesize("dev", tmp_path, {"stages": context})

    (subscription,) = app.resources("Monitoring", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id(app)}
    (dlq_id,) = app.resources("Monitoring", "AWS::SQS::Queue")
    assert dlq_id == "AlarmEmailDlqCB0111AB"  # pinned: a changed id would replace the queue
    assert subscription["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}
    }
    for report in app.validation_report["pluginReports"]:
        if report["pluginName"] != "Construct Annotations":  # example.com: the placeholder warning
            assert report["violations"] == []
