"""cdk-nag and cfn-lint: zero findings on every synthesized template."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import lint

# Each acknowledged finding is inherent to the design; the reason lives next to the acknowledgement.
EXPECTED_ACKNOWLEDGED = {
    "AwsSolutions": {
        "AwsSolutions-APIG3",  # WAF attached by Firewall Manager
        "AwsSolutions-APIG4",  # authorizer: its own issue
        "AwsSolutions-APIG6",  # execution logs need the account-wide role
        "AwsSolutions-COG4",  # authorizer: its own issue
        "AwsSolutions-IAM5[Resource::*]",  # X-Ray has no resource-level permissions
        "AwsSolutions-SQS3",  # OrderProjectionDLQ is itself a DLQ (EventBridge target / Lambda async)
    },
    "Serverless": {
        "Serverless-LambdaDLQ",  # synchronous / SQS-driven functions only
        "Serverless-LambdaEventSourceMappingDestination",  # SQS sources: the queue redrives to its DLQ
        "Serverless-SQSRedrivePolicy",  # only on the dead-letter queues themselves
    },
}


def _plugin_reports(stage_app):
    return {report["pluginName"]: report for report in stage_app.validation_report["pluginReports"]}


def test_cdk_nag_runs_both_rule_packs_with_no_unacknowledged_finding(stage_app):
    reports = _plugin_reports(stage_app)
    assert set(reports) == {"AwsSolutions", "Serverless"}
    for name, report in reports.items():
        assert report["violations"] == [], f"{name} findings: {json.dumps(report['violations'], indent=1)}"
        assert report["conclusion"] == "success"


def test_only_the_known_inherent_findings_are_acknowledged(stage_app):
    for name, report in _plugin_reports(stage_app).items():
        acknowledged = {finding["ruleName"] for finding in report["suppressedViolations"]}
        assert acknowledged == EXPECTED_ACKNOWLEDGED[name]
        for finding in report["suppressedViolations"]:
            assert len(finding["reason"]) > 40, f"{finding['ruleName']} needs a specific reason"


@pytest.mark.parametrize("stack", ["Data", "Service"])
def test_cfn_lint_reports_nothing(stage_app, stack):
    matches = lint(json.dumps(stage_app.templates[stack]), regions=["eu-west-1", "us-east-1"])
    assert [str(match) for match in matches] == []
