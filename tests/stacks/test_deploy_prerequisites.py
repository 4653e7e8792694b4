"""What a first deploy into a fresh account needs, and stage settings that only show up in AWS.

- API Gateway stage access logging needs the account/region's CloudWatch Logs role (one per region).
- Cognito's own e-mail sender allows about 50 e-mails a day: prod sends through SES.
- With JSON logs, Lambda drops records below the function's application log level (INFO when unset).
"""

from __future__ import annotations

import copy

import pytest
from aws_cdk import App

from app import build_app
from stacks.account_stack import ACCOUNT_STACK_NAME
from stacks.config import ConfigError, load_stage_config
from tests.stacks.conftest import flatten
from tests.stacks.test_assertions import CDK_CONTEXT


def _account_stack(stage_app) -> dict:
    return stage_app.templates[ACCOUNT_STACK_NAME]


def test_the_account_settings_stack_sets_api_gateways_cloudwatch_role(stage_app):
    resources = _account_stack(stage_app)["Resources"]
    ((role_id, role),) = ((i, r) for i, r in resources.items() if r["Type"] == "AWS::IAM::Role")
    ((_, account),) = ((i, r) for i, r in resources.items() if r["Type"] == "AWS::ApiGateway::Account")
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= set(statement["Action"])
    # Other APIs in the region keep logging through this role after the stack is deleted.
    assert role["DeletionPolicy"] == account["DeletionPolicy"] == "Retain"


def test_the_stage_deploys_after_the_account_settings(stage_app):
    (stage,) = stage_app.resources("Service", "AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" in stage["Properties"]
    assert ACCOUNT_STACK_NAME in stage_app.templates  # synthesized with the stage, same template in each


def test_the_account_settings_stack_is_identical_in_every_stage(synthesized):
    """Deploying another stage (or another service from this template) is then a no-op update."""
    dev, prod = (synthesized[stage].templates[ACCOUNT_STACK_NAME] for stage in ("dev", "prod"))
    assert dev == prod


def test_an_account_that_already_has_the_role_can_leave_it_out(tmp_path):
    context = copy.deepcopy(CDK_CONTEXT)
    context["stages"]["dev"]["apiGatewayCloudWatchRole"] = "existing"
    app = build_app(App(outdir=str(tmp_path), context={**context, "stage": "dev"}))
    assert ACCOUNT_STACK_NAME not in [stack.stack_name for stack in app.synth().stacks]


def _user_pool(stage_app) -> dict:
    ((_, pool),) = stage_app.resources("Data", "AWS::Cognito::UserPool").items()
    return pool["Properties"]


def test_prod_sends_user_pool_email_through_ses_and_dev_through_cognito(stage_app):
    email = _user_pool(stage_app).get("EmailConfiguration", {})
    if stage_app.stage == "dev":
        assert email.get("EmailSendingAccount", "COGNITO_DEFAULT") == "COGNITO_DEFAULT"
        return
    settings = stage_app.config.email
    assert email["EmailSendingAccount"] == "DEVELOPER"
    assert email["From"] == f"{settings.from_name} <{settings.from_email}>"
    assert flatten(email["SourceArn"]) == (
        f"arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/{settings.ses_verified_domain}"
    )


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ({"sender": "ses"}, r"stages\.prod\.email: .*needs fromEmail"),
        ({"sender": "smtp"}, r"stages\.prod\.email\.sender"),
        ({"sender": "ses", "fromEmail": "not-an-address"}, r"stages\.prod\.email\.fromEmail"),
        (
            {"sender": "ses", "fromEmail": "no-reply@other.example", "sesVerifiedDomain": "app.example.com"},
            r"fromEmail must be in sesVerifiedDomain 'app\.example\.com'",
        ),
        ({"sender": "cognito", "fromEmail": "a@example.com"}, r"fromEmail only apply when sender is 'ses'"),
        ({"sender": "ses", "fromEmail": "a@example.com", "sesRegion": "mars"}, r"email\.sesRegion"),
    ],
)
def test_bad_email_settings_fail_synth_naming_the_setting(email, message):
    context = copy.deepcopy(CDK_CONTEXT)
    context["stages"]["prod"]["email"] = email
    with pytest.raises(ConfigError, match=message):
        load_stage_config(context, "prod")


def test_each_function_logs_at_the_stage_log_level(stage_app):
    level = stage_app.config.log_level
    for logical_id, function in stage_app.service_functions().items():
        logging = function["Properties"]["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        assert logging["ApplicationLogLevel"] == {"WARNING": "WARN"}.get(level, level), logical_id
        assert logging["SystemLogLevel"] == {"WARNING": "WARN", "ERROR": "WARN"}.get(level, level)
        assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == level
