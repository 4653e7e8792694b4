"""Fine-grained template assertions: the properties reviewers care about, per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import load_stage_config
from tests.stacks.conftest import CDK_AUTO_DELETE_PROVIDER, CDK_NOTIFICATIONS_HANDLER, flatten

CDK_CONTEXT = json.loads(Path("cdk.json").read_text())["context"]

# The secret whose value keys the pagination tokens (service stack).
PAGE_TOKEN_KEY = "<PageTokenKey1B0334FC>"
# Exactly the actions each function's code calls (besides writing its own logs and X-Ray traces).
EXPECTED_ACTIONS = {
    "UsersApi": {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "secretsmanager:GetSecretValue",  # the page token key
    },
    "OrdersApi": {"sqs:SendMessage", "dynamodb:GetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"},
    "OrderProcessor": {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "events:PutEvents",
    },
    "OrderProjection": {
        "sqs:SendMessage",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    },
    "UploadsApi": {"s3:PutObject"},  # the presigned PUT URL is signed with this role
    "FilesApi": {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "s3:GetObject",  # the presigned GET URL is signed with this role
        "s3:DeleteObject",
        "secretsmanager:GetSecretValue",
    },
    "UploadIndexer": {
        "s3:GetObject",
        "s3:ListBucket",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
    },
    "DailyReport": {"dynamodb:Query", "s3:PutObject", "sqs:SendMessage"},
}
# ... and exactly on which resources (<Data:Id.Attr>: the data stack's resource, see conftest.flatten).
EXPECTED_GRANTS = {
    "UsersApi": {
        "dynamodb:DeleteItem": "<Data:UsersTable9725E9C8.Arn>",
        "dynamodb:GetItem": "<Data:UsersTable9725E9C8.Arn>",
        "dynamodb:PutItem": "<Data:UsersTable9725E9C8.Arn>",
        "dynamodb:Scan": "<Data:UsersTable9725E9C8.Arn>",
        "dynamodb:UpdateItem": "<Data:UsersTable9725E9C8.Arn>",
        "secretsmanager:GetSecretValue": PAGE_TOKEN_KEY,
    },
    "OrdersApi": {
        "sqs:SendMessage": "<Data:OrdersQueue3DFA1D51.Arn>",
        "dynamodb:GetItem": "<Data:OrdersTable315BB997.Arn>",
        "dynamodb:Query": "<Data:OrdersTable315BB997.Arn>/index/byUser",
        "secretsmanager:GetSecretValue": PAGE_TOKEN_KEY,
    },
    "UploadsApi": {"s3:PutObject": "<Data:UploadsBucket5E5E9B64.Arn>/uploads/*"},
    "FilesApi": {
        "dynamodb:GetItem": "<Data:FilesTable1399FAA4.Arn>",
        "dynamodb:Query": "<Data:FilesTable1399FAA4.Arn>/index/byUser",
        "s3:GetObject": "<Data:UploadsBucket5E5E9B64.Arn>/uploads/*",
        "s3:DeleteObject": "<Data:UploadsBucket5E5E9B64.Arn>/uploads/*",
        "secretsmanager:GetSecretValue": PAGE_TOKEN_KEY,
    },
    "UploadIndexer": {
        "s3:GetObject": "<Data:UploadsBucket5E5E9B64.Arn>/uploads/*",
        "s3:ListBucket": "<Data:UploadsBucket5E5E9B64.Arn>",
        "dynamodb:PutItem": "<Data:FilesTable1399FAA4.Arn>",
        "dynamodb:DeleteItem": "<Data:FilesTable1399FAA4.Arn>",
        "sqs:SendMessage": "<Data:UploadIndexerDlq1B4D5A7E.Arn>",
    },
    "DailyReport": {
        "dynamodb:Query": "<Data:OrdersTable315BB997.Arn>/index/byOrderDate",
        "s3:PutObject": "<Data:ReportsBucket4E7C5994.Arn>/reports/*",
        "sqs:SendMessage": "<Data:DailyReportDlqE17BC784.Arn>",
    },
}
BASELINE_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def config_of(stage_app):
    return load_stage_config(CDK_CONTEXT, stage_app.stage)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict, role_id: str) -> list[dict]:
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def function_named(stage_app, name: str) -> dict:
    (function,) = (f for i, f in stage_app.service_functions().items() if i.startswith(f"{name}Function"))
    return function["Properties"]


def test_every_function_is_arm64_latest_python_traced_with_its_own_retained_logs(stage_app):
    service = stage_app.templates["Service"]
    functions = stage_app.service_functions()
    assert {name for name in EXPECTED_ACTIONS} == {i.split("Function")[0] for i in functions}
    assert functions
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"], logical_id
        assert props["Runtime"] == "python3.14", logical_id
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        log_group = service["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == config_of(stage_app).log_retention_days
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(
            props["Environment"]["Variables"]
        )
        assert len(props["Layers"]) == 2  # dependency layer + shared code layer


def test_each_role_has_exactly_its_actions_and_no_wildcard_action(stage_app):
    template = stage_app.templates["Service"]
    for logical_id, function in stage_app.service_functions().items():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = role_statements(template, role_id)
        actions = {action for s in statements for action in _as_list(s["Action"])}
        name = next(n for n in EXPECTED_ACTIONS if logical_id.startswith(f"{n}Function"))
        assert actions == EXPECTED_ACTIONS[name] | BASELINE_ACTIONS, logical_id
        assert not any("*" in action for action in actions)
        for statement in statements:
            wildcard = statement["Resource"] == "*"
            assert not wildcard or all(a.startswith("xray:") for a in _as_list(statement["Action"]))


def test_each_grant_names_exactly_its_resources(stage_app):
    template = stage_app.templates["Service"]
    for name, expected in EXPECTED_GRANTS.items():
        role_id = function_named(stage_app, name)["Role"]["Fn::GetAtt"][0]
        granted = {
            action: [flatten(resource) for resource in _as_list(statement["Resource"])]
            for statement in role_statements(template, role_id)
            for action in _as_list(statement["Action"])
            if action not in BASELINE_ACTIONS
        }
        assert granted == {action: [resource] for action, resource in expected.items()}, name


def test_the_indexer_may_list_only_under_uploads(stage_app):
    role_id = function_named(stage_app, "UploadIndexer")["Role"]["Fn::GetAtt"][0]
    (listing,) = (
        s
        for s in role_statements(stage_app.templates["Service"], role_id)
        if "s3:ListBucket" in _as_list(s["Action"])
    )
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}}


def test_no_role_uses_an_aws_managed_policy(stage_app):
    for stack in stage_app.templates:
        for logical_id, role in stage_app.resources(stack, "AWS::IAM::Role").items():
            if logical_id.startswith((CDK_NOTIFICATIONS_HANDLER, CDK_AUTO_DELETE_PROVIDER)):
                continue  # CDK's own custom resources (bucket notifications, emptying buckets on destroy)
            assert "ManagedPolicyArns" not in role["Properties"], logical_id


@pytest.mark.parametrize("table_id", ["UsersTable", "FilesTable", "OrdersTable", "IdempotencyTable"])
def test_table_protection_matches_the_stage(stage_app, table_id):
    (table,) = (
        t for i, t in stage_app.resources("Data", "AWS::DynamoDB::Table").items() if i.startswith(table_id)
    )
    props = table["Properties"]
    prod = stage_app.stage == "prod"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props.get("DeletionProtectionEnabled", False) is prod
    assert table["DeletionPolicy"] == ("Retain" if prod else "Delete")
    assert table["UpdateReplacePolicy"] == ("Retain" if prod else "Delete")


def test_api_stage_is_throttled_traced_and_access_logged(stage_app):
    (stage,) = stage_app.resources("Service", "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    throttle = config_of(stage_app).api_throttle
    assert props["StageName"] == stage_app.stage
    assert props["TracingEnabled"] is True
    (settings,) = props["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == throttle.rate_limit
    assert settings["ThrottlingBurstLimit"] == throttle.burst_limit
    access = props["AccessLogSetting"]
    assert json.loads(access["Format"])["requestId"] == "$context.requestId"
    assert "ApiAccessLogs" in json.dumps(access["DestinationArn"])


def test_every_api_method_is_validated_and_proxied_to_a_function(stage_app):
    (validator_id,) = stage_app.resources("Service", "AWS::ApiGateway::RequestValidator")
    validator = stage_app.templates["Service"]["Resources"][validator_id]["Properties"]
    assert validator["ValidateRequestBody"] and validator["ValidateRequestParameters"]
    methods = [
        m["Properties"]
        for m in stage_app.resources("Service", "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    ]
    # users CRUD (5), POST+GET /orders, GET /orders/{id}, POST /uploads, GET /files, GET+DELETE /files/{id}
    assert len(methods) == 12
    for method in methods:
        assert method["RequestValidatorId"] == {"Ref": validator_id}
        assert method["Integration"]["Type"] == "AWS_PROXY"


@pytest.mark.parametrize(("param", "methods"), [("userId", 3), ("orderId", 1)])
def test_path_parameters_are_required(stage_app, param, methods):
    resources = stage_app.resources("Service", "AWS::ApiGateway::Method").values()
    name = f"method.request.path.{param}"
    with_params = [m for m in resources if name in m["Properties"].get("RequestParameters", {})]
    assert len(with_params) == methods
    assert all(m["Properties"]["RequestParameters"][name] is True for m in with_params)


def test_everything_is_tagged_with_service_and_stage(stage_app):
    for stack in stage_app.templates:
        for logical_id, resource in stage_app.templates[stack]["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list):
                assert {"Key": "stage", "Value": stage_app.stage} in tags, logical_id
                assert {"Key": "service", "Value": "orders"} in tags, logical_id
