"""Alarms must reach someone: prod requires alarmEmail or alarmTopicArn; other stages warn at synth."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.config import ConfigError, load_stage_config
from tests.stacks.conftest import Synthesized, synthesize

CONTEXT = json.loads(Path("cdk.json").read_text())["context"]
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:team-alerts"


def _prod(**alarm_settings) -> dict:
    context = copy.deepcopy(CONTEXT)
    context["stages"]["prod"].pop("alarmEmail", None)
    context["stages"]["prod"].update(alarm_settings)
    return context


def test_prod_without_an_alarm_destination_fails_synth():
    with pytest.raises(
        ConfigError, match=r"stages\.prod: Value error, alarmEmail or alarmTopicArn is required in prod"
    ):
        load_stage_config(_prod(), "prod")
    with pytest.raises(ConfigError, match=r"alarmEmail or alarmTopicArn is required in prod"):
        load_stage_config(_prod(alarmEmail=None), "prod")


def test_prod_accepts_an_existing_topic_instead_of_an_email():
    assert load_stage_config(_prod(alarmTopicArn=TOPIC_ARN), "prod").alarm_topic_arn == TOPIC_ARN


@pytest.mark.parametrize(
    "arn", ["team-alerts", "arn:aws:sqs:eu-west-1:123456789012:q", "arn:aws:sns:eu-west-1:1:t"]
)
def test_an_alarm_topic_arn_must_be_an_sns_topic_arn(arn):
    with pytest.raises(ConfigError, match=r"stages\.prod\.alarmTopicArn"):
        load_stage_config(_prod(alarmTopicArn=arn), "prod")


def _warnings(app: Synthesized) -> list[str]:
    """The app's own synth warnings (Annotations), which the validation report carries."""
    return [
        f"{violation['ruleName']}: {violation['description']}"
        for report in app.validation_report["pluginReports"]
        if report["pluginName"] == "Construct Annotations"
        for violation in report["violations"]
        if violation["severity"] == "warning"
    ]


def test_a_stage_without_an_alarm_destination_warns_at_synth(synthesized):
    assert synthesized["dev"].config.alarm_email is None  # cdk.json: dev has none
    (warning,) = _warnings(synthesized["dev"])
    assert warning == (
        "Annotation::orders:no-alarm-destination: "
        "Stage dev has no alarmEmail or alarmTopicArn (cdk.json): its alarms notify nobody."
    )


def test_the_prod_placeholder_email_warns_at_synth(synthesized):
    assert synthesized["prod"].config.alarm_email == "alarms@app.example.com"  # cdk.json placeholder
    (warning,) = _warnings(synthesized["prod"])
    assert warning.startswith(
        "Annotation::orders:placeholder-alarm-email: "
        "Stage prod's alarmEmail alarms@app.example.com is a placeholder (cdk.json)"
    )


def test_every_alarm_also_notifies_the_alarm_topic_arn(tmp_path):
    stages = copy.deepcopy(CONTEXT["stages"])
    stages["dev"]["alarmTopicArn"] = TOPIC_ARN
    app = synthesize("dev", tmp_path, {"stages": stages})
    alarms = app.resources("Monitoring", "AWS::CloudWatch::Alarm")
    (topic,) = app.resources("Monitoring", "AWS::SNS::Topic")
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}, TOPIC_ARN]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic}, TOPIC_ARN]
    assert _warnings(app) == []
