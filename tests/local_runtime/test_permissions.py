"""AWS::Lambda::Permission as Lambda evaluates it for a service's invocation: the function, the service
principal, the source ARN (ArnLike: `*` and `?`) and the source account must all match one statement."""

from __future__ import annotations

from local_runtime.permissions import FunctionPolicies, execute_api_arn
from local_runtime.templates import App, Names

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:orders-api"
API = "arn:aws:execute-api:us-east-1:123456789012:abc123"


def _policies(*statements: dict) -> FunctionPolicies:
    resources = {
        f"Permission{i}": {"Type": "AWS::Lambda::Permission", "Properties": statement}
        for i, statement in enumerate(statements)
    }
    return FunctionPolicies.from_app(App.from_templates({"S": {"Resources": resources}}, names=Names()))


def test_an_api_method_permission_covers_its_method_and_paths_only() -> None:
    policies = _policies(
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": FUNCTION,
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": f"{API}/dev/GET/orders/*",
        }
    )
    allowed = execute_api_arn("us-east-1", "123456789012", "abc123", "dev", "GET", "/orders/o-1")
    assert policies.allows(FUNCTION, "apigateway.amazonaws.com", allowed, "123456789012")
    for method, path in (("POST", "/orders/o-1"), ("GET", "/users/u-1")):
        other = execute_api_arn("us-east-1", "123456789012", "abc123", "dev", method, path)
        assert not policies.allows(FUNCTION, "apigateway.amazonaws.com", other, "123456789012")
    assert not policies.allows(FUNCTION, "events.amazonaws.com", allowed, "123456789012")
    assert not policies.allows(
        FUNCTION.replace("orders-api", "users-api"), "apigateway.amazonaws.com", allowed, "1"
    )


def test_source_account_and_function_name_forms() -> None:
    policies = _policies(
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": "orders-api",  # a name, not an ARN, is a valid FunctionName
            "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::uploads-?",
            "SourceAccount": "123456789012",
        },
        {"Action": "lambda:GetFunction", "FunctionName": FUNCTION, "Principal": "*"},  # not an invoke grant
    )
    assert policies.allows(FUNCTION, "s3.amazonaws.com", "arn:aws:s3:::uploads-1", "123456789012")
    assert not policies.allows(FUNCTION, "s3.amazonaws.com", "arn:aws:s3:::uploads-10", "123456789012")
    assert not policies.allows(FUNCTION, "s3.amazonaws.com", "arn:aws:s3:::uploads-1", "999999999999")
    assert not policies.allows(FUNCTION, "events.amazonaws.com", "arn:aws:events:us-east-1:1:rule/r", "1")
