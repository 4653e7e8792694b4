"""cdk-nag and cfn-lint: zero findings on every synthesized template."""

from __future__ import annotations

import json
import re

import pytest
from cfnlint.api import lint

from tests.stacks.conftest import STACKS

# Each acknowledged finding is inherent to the design; the reason lives next to the acknowledgement.
# Weak cross-stack references appear as Fn::GetStackOutput JSON in finding ids: normalised to <Data:Id.Attr>.
EXPECTED_ACKNOWLEDGED = {
    "AwsSolutions": {
        "AwsSolutions-APIG3",  # WAF attached by Firewall Manager
        "AwsSolutions-APIG6",  # execution logs need the account-wide role
        "AwsSolutions-COG2",  # MFA is OPTIONAL (cdk.json userPool.mfa); REQUIRED removes the finding
        "AwsSolutions-IAM5[Resource::*]",  # X-Ray has no resource-level permissions
        "AwsSolutions-SQS3",  # the DLQs are themselves dead-letter queues
        "AwsSolutions-SMG4",  # the page token key: no credential to rotate (service_stack._page_token_key)
        # object actions scoped to one key prefix (uploads_api, files_api, upload_indexer / daily_report)
        "AwsSolutions-IAM5[Resource::<Data:UploadsBucket5E5E9B64.Arn>/uploads/*]",
        "AwsSolutions-IAM5[Resource::<Data:ReportsBucket4E7C5994.Arn>/reports/*]",
        # CDK's BucketNotificationsHandler (add_event_notification) has the basic execution role
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        # API Gateway's account-wide CloudWatch role writes every API's log groups in the region
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
    },
    "Serverless": {
        "Serverless-LambdaDLQ",  # synchronous / SQS-driven functions only
        "Serverless-LambdaEventSourceMappingDestination",  # SQS sources: the queue redrives to its DLQ
        "Serverless-SQSRedrivePolicy",  # the DLQs are themselves dead-letter queues
    },
}
# Which constructs carry each acknowledgement that is not about every function or the API.
EXPECTED_ACKNOWLEDGED_ON = {
    "AwsSolutions-COG2": {"Data/UserPool/Resource"},
    "AwsSolutions-SMG4": {"Service/PageTokenKey/Resource"},
    "AwsSolutions-SQS3": {
        "Data/UploadIndexerDlq/Resource",
        "Data/DailyReportDlq/Resource",
        "Data/OrderProjectionDLQ/Resource",
    },
    "Serverless-SQSRedrivePolicy": {
        "Data/UploadIndexerDlq/Resource",
        "Data/DailyReportDlq/Resource",
        "Data/OrderProjectionDLQ/Resource",
        "Data/OrdersDLQ/Resource",
    },
    "AwsSolutions-IAM5[Resource::<Data:UploadsBucket5E5E9B64.Arn>/uploads/*]": {
        "Service/UploadsApi/Role/DefaultPolicy/Resource",
        "Service/FilesApi/Role/DefaultPolicy/Resource",
        "Service/UploadIndexer/Role/DefaultPolicy/Resource",
    },
    "AwsSolutions-IAM5[Resource::<Data:ReportsBucket4E7C5994.Arn>/reports/*]": {
        "Service/DailyReport/Role/DefaultPolicy/Resource",
    },
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]": {
        "ApiGatewayAccount/CloudWatchRole/Resource",
    },
    "Serverless-LambdaDLQ": {
        "Service/UsersApi/Function/Resource",
        "Service/UploadsApi/Function/Resource",
        "Service/FilesApi/Function/Resource",
        "Service/OrdersApi/Function/Resource",
        "Service/OrderProcessor/Function/Resource",
    },
}
_WEAK_REFERENCE = re.compile(
    r'\{"Fn::GetStackOutput":\{"StackName":"Orders-\w+-Data","Region":\{"Ref":"AWS::Region"\},'
    r'"OutputName":"PublishOutputFnGetAtt(?P<id>\w+?[0-9A-F]{8})(?P<attr>Arn)[0-9A-F]{8}"\}\}'
)


def normalise_rule(rule: str) -> str:
    return _WEAK_REFERENCE.sub(r"<Data:\g<id>.\g<attr>>", rule)


def _plugin_reports(stage_app):
    # "Construct Annotations" carries the app's own synth warnings (tests/stacks/test_alarm_destination.py).
    reports = stage_app.validation_report["pluginReports"]
    return {r["pluginName"]: r for r in reports if r["pluginName"] != "Construct Annotations"}


def test_cdk_nag_runs_both_rule_packs_with_no_unacknowledged_finding(stage_app):
    reports = _plugin_reports(stage_app)
    assert set(reports) == {"AwsSolutions", "Serverless"}
    for name, report in reports.items():
        assert report["violations"] == [], f"{name} findings: {json.dumps(report['violations'], indent=1)}"
        assert report["conclusion"] == "success"


def test_only_the_known_inherent_findings_are_acknowledged(stage_app):
    for name, report in _plugin_reports(stage_app).items():
        acknowledged = {normalise_rule(finding["ruleName"]) for finding in report["suppressedViolations"]}
        assert acknowledged == EXPECTED_ACKNOWLEDGED[name]
        for finding in report["suppressedViolations"]:
            assert len(finding["reason"]) > 40, f"{finding['ruleName']} needs a specific reason"


def test_specific_acknowledgements_sit_on_exactly_their_constructs(stage_app):
    where: dict[str, set[str]] = {}
    for report in _plugin_reports(stage_app).values():
        for finding in report["suppressedViolations"]:
            paths = {c["constructPath"] for c in finding["violatingConstructs"]}
            where.setdefault(normalise_rule(finding["ruleName"]), set()).update(paths)
    for rule, paths in EXPECTED_ACKNOWLEDGED_ON.items():
        if rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy") and stage_app.config.alarm_email:
            paths = {*paths, "Monitoring/AlarmEmailDlq/Resource"}  # the alarm e-mail's DLQ (prod)
        assert where[rule] == paths, rule
    (handler_role,) = where[
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
    ]
    assert handler_role.startswith("Service/BucketNotificationsHandler")


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_reports_nothing(stage_app, stack):
    matches = lint(json.dumps(stage_app.templates[stack]), regions=["eu-west-1", "us-east-1"])
    assert [str(match) for match in matches] == []
