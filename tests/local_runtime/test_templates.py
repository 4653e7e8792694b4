"""Intrinsic functions and physical names, resolved from hand-written templates."""

from __future__ import annotations

import pytest

from local_runtime.templates import App, Names, TemplateError
from tests.local_runtime.sample_app import data_template, service_template


@pytest.fixture
def app() -> App:
    return App.from_templates(
        {"Test-Data": data_template(), "Test-Service": service_template()},
        names=Names(region="eu-west-1", endpoint_url="http://localhost:4566"),
    )


def test_pseudo_parameters_and_sub(app: App) -> None:
    stack = app.stack("Test-Service")
    assert app.resolve(stack, {"Ref": "AWS::Region"}) == "eu-west-1"
    assert app.resolve(stack, {"Ref": "AWS::AccountId"}) == "123456789012"
    assert app.resolve(stack, {"Ref": "AWS::Partition"}) == "aws"
    assert app.resolve(stack, {"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert app.resolve(stack, {"Fn::Sub": "a-${AWS::Region}-${!Literal}"}) == "a-eu-west-1-${Literal}"
    assert app.resolve(stack, {"Fn::Sub": ["${X}/${Echo.Arn}", {"X": {"Ref": "AWS::StackName"}}]}) == (
        "Test-Service/arn:aws:lambda:eu-west-1:123456789012:function:Test-Service-Echo"
    )


def test_join_select_split(app: App) -> None:
    stack = app.stack("Test-Service")
    assert app.resolve(stack, {"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}) == "a-eu-west-1"
    assert app.resolve(stack, {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"


def test_cross_stack_references(app: App) -> None:
    service = app.stack("Test-Service")
    assert app.resolve(service, {"Fn::ImportValue": "Test-TableName"}) == "Test-Data-Table"
    output = {
        "Fn::GetStackOutput": {"StackName": "Test-Data", "Region": "eu-west-1", "OutputName": "TableArn"}
    }
    assert app.resolve(service, output) == "arn:aws:dynamodb:eu-west-1:123456789012:table/Test-Data-Table"
    with pytest.raises(TemplateError, match="no stack exports"):
        app.resolve(service, {"Fn::ImportValue": "Nope"})


def test_physical_names_are_deterministic_unless_set(app: App) -> None:
    data = app.stack("Test-Data")
    assert app.ref(data, "Queue") == "http://localhost:4566/123456789012/Test-Data-Queue"
    assert app.get_att(data, "Queue", "Arn") == "arn:aws:sqs:eu-west-1:123456789012:Test-Data-Queue"
    assert app.ref(data, "AsyncDlq").endswith("/test-async-dlq")
    assert app.ref(data, "Bucket") == "test-data-bucket"  # lower-cased for S3
    assert app.ref(data, "Bus") == "test-bus"
    assert app.get_att(data, "Bus", "Arn") == "arn:aws:events:eu-west-1:123456789012:event-bus/test-bus"
    service = app.stack("Test-Service")
    assert app.get_att(service, "OrderRule", "Arn") == (
        "arn:aws:events:eu-west-1:123456789012:rule/test-bus/Test-Service-OrderRule"
    )


def test_conditions_and_unknown_intrinsics() -> None:
    template = {
        "Conditions": {"IsEu": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Condition": "IsEu"}},
    }
    app = App.from_templates({"S": template}, names=Names(region="us-east-1"))
    stack = app.stack("S")
    assert app.all_resources("AWS::SQS::Queue") == []
    assert app.resolve(stack, {"Fn::If": ["IsEu", "a", "b"]}) == "b"
    assert app.resolve(stack, {"Fn::Not": [{"Condition": "IsEu"}]}) is True
    with pytest.raises(TemplateError, match="Fn::Transform"):
        app.resolve(stack, {"Fn::Transform": {}})
    with pytest.raises(TemplateError, match="unknown resource"):
        app.resolve(stack, {"Ref": "Missing"})
