"""Stateful resources keep their logical IDs: a changed ID makes CloudFormation replace the resource."""

from __future__ import annotations

STATEFUL_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::Cognito::UserPool",
}

PINNED = {
    "Data": {
        "UsersTable9725E9C8": "AWS::DynamoDB::Table",
        "OrdersTable315BB997": "AWS::DynamoDB::Table",
        "IdempotencyTable22A5A209": "AWS::DynamoDB::Table",
        "OrdersQueue3DFA1D51": "AWS::SQS::Queue",
        "OrdersDLQ8E8CD9EE": "AWS::SQS::Queue",
        "OrdersBus68D47F66": "AWS::Events::EventBus",
        "OrderProjectionDLQED4AF06A": "AWS::SQS::Queue",
        "FilesTable1399FAA4": "AWS::DynamoDB::Table",
        "AccessLogsBucket83982689": "AWS::S3::Bucket",
        "UploadsBucket5E5E9B64": "AWS::S3::Bucket",
        "ReportsBucket4E7C5994": "AWS::S3::Bucket",
        "UploadIndexerDlq1B4D5A7E": "AWS::SQS::Queue",
        "DailyReportDlqE17BC784": "AWS::SQS::Queue",
        "UserPool6BA7E5F2": "AWS::Cognito::UserPool",
    },
    "Service": {},
    "Monitoring": {},  # AlarmEmailDlq exists only with an alarmEmail: pinned in test_monitoring
}
# Stages with an alarmEmail in cdk.json (prod's placeholder) have its subscription's dead-letter queue.
PINNED_BY_STAGE = {"prod": {"Monitoring": {"AlarmEmailDlqCB0111AB": "AWS::SQS::Queue"}}}


def test_stateful_logical_ids_are_pinned(stage_app):
    for stack, pinned in PINNED.items():
        pinned = {**pinned, **PINNED_BY_STAGE.get(stage_app.stage, {}).get(stack, {})}
        actual = {
            logical_id: resource["Type"]
            for logical_id, resource in stage_app.templates[stack]["Resources"].items()
            if resource["Type"] in STATEFUL_TYPES
        }
        assert actual == pinned, (
            f"Stateful logical IDs in {stack} changed: {sorted(set(pinned) - set(actual))} would be "
            f"REPLACED (deleting their data), {sorted(set(actual) - set(pinned))} are new. Keep the old "
            "construct ids (or override_logical_id); pin new resources here after review."
        )
