"""Auth: the user pool (data stack) and its authorizer on every API method (service stack)."""

from __future__ import annotations

import copy
import json

from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.config import load_stage_config
from stacks.data_stack import ADMINS_GROUP, DataStack
from tests.stacks.conftest import flatten
from tests.stacks.test_assertions import CDK_CONTEXT, config_of

# Routes anyone may call without a token (OpenAPI / Swagger UI). The API serves none today: a docs
# route added later is listed here, on purpose, and every other method keeps the authorizer.
PUBLIC_ROUTES: set[tuple[str, str]] = set()


def _one(stage_app, stack: str, resource_type: str) -> tuple[str, dict]:
    ((logical_id, resource),) = stage_app.resources(stack, resource_type).items()
    return logical_id, resource


def _method_routes(stage_app) -> dict[tuple[str, str], dict]:
    template = stage_app.templates["Service"]["Resources"]
    resources = {
        lid: r["Properties"] for lid, r in template.items() if r["Type"] == "AWS::ApiGateway::Resource"
    }

    def path_of(resource_id) -> str:
        if not (isinstance(resource_id, dict) and "Ref" in resource_id):
            return ""
        props = resources[resource_id["Ref"]]
        return f"{path_of(props['ParentId'])}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"]) or "/"): m["Properties"]
        for m in stage_app.resources("Service", "AWS::ApiGateway::Method").values()
    }


def test_every_non_docs_method_requires_the_user_pool_authorizer(stage_app):
    authorizer_id, authorizer = _one(stage_app, "Service", "AWS::ApiGateway::Authorizer")
    pool_id, _ = _one(stage_app, "Data", "AWS::Cognito::UserPool")
    props = authorizer["Properties"]
    assert props["Type"] == "COGNITO_USER_POOLS"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert [flatten(arn) for arn in props["ProviderARNs"]] == [f"<Data:{pool_id}.Arn>"]

    routes = _method_routes(stage_app)
    protected = {route for route in routes if route[0] != "OPTIONS" and route not in PUBLIC_ROUTES}
    # users CRUD (5), POST+GET /orders, GET /orders/{id}, POST /uploads, GET /files, GET+DELETE /files/{id}
    assert len(protected) == 12
    for route in protected:
        assert routes[route]["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert routes[route]["AuthorizerId"] == {"Ref": authorizer_id}, route
        assert "AuthorizationScopes" not in routes[route], route  # ID tokens, not access tokens


def test_only_cors_preflight_is_open(stage_app):
    # Browsers send preflight requests without credentials: they must not need a token.
    for (http_method, path), props in _method_routes(stage_app).items():
        if props.get("AuthorizationType", "NONE") == "NONE":
            assert http_method == "OPTIONS" or (http_method, path) in PUBLIC_ROUTES, (http_method, path)
            assert props["Integration"]["Type"] == "MOCK"


def test_gateway_errors_use_the_json_error_contract(stage_app):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in stage_app.resources("Service", "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"}
    for response_type, props in responses.items():
        template = props["ResponseTemplates"]["application/json"]
        # Rendered by API Gateway: substitute sample values and the result must be the contract's JSON.
        rendered = json.loads(
            template.replace("$context.error.messageString", '"Unauthorized"')
            .replace("$context.error.responseType", response_type)
            .replace("$context.requestId", "req-1")
        )
        assert set(rendered) == {"error", "message", "details", "requestId"}, response_type
        assert rendered["requestId"] == "req-1"
    assert (
        json.loads(
            responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"]
            .replace("$context.error.messageString", '"x"')
            .replace("$context.requestId", "r")
        )["error"]
        == "Unauthorized"
    )
    # Readable by the browser: the one allowed origin, or '*' when there are several (a gateway response
    # cannot check a list; these bodies carry no data).
    origins = config_of(stage_app).cors_allow_origins
    allowed = origins[0] if len(origins) == 1 else "*"
    for props in responses.values():
        assert props["ResponseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": f"'{allowed}'"
        }


def test_user_pool_is_protected_and_has_a_strong_password_policy(stage_app):
    _, pool = _one(stage_app, "Data", "AWS::Cognito::UserPool")
    props = pool["Properties"]
    prod = stage_app.stage == "prod"
    assert props["DeletionProtection"] == ("ACTIVE" if prod else "INACTIVE")
    assert pool["DeletionPolicy"] == ("Retain" if prod else "Delete")
    assert pool["UpdateReplacePolicy"] == ("Retain" if prod else "Delete")
    assert props["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireLowercase": True,
        "RequireUppercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": 3,
    }
    assert props["UsernameAttributes"] == ["email"]
    assert props["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }
    settings = config_of(stage_app).user_pool
    assert props["MfaConfiguration"] == settings.mfa
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["UserPoolTier"] == "PLUS"
    mode = {"AUDIT_ONLY": "AUDIT", "FULL_FUNCTION": "ENFORCED"}[settings.threat_protection]
    assert props["UserPoolAddOns"] == {"AdvancedSecurityMode": mode}
    assert mode == ("ENFORCED" if prod else "AUDIT")


def _clients(stage_app) -> dict[str, dict]:
    return {
        next(part for part in ("ApiClient", "E2eClient") if part in logical_id): client["Properties"]
        for logical_id, client in stage_app.resources("Data", "AWS::Cognito::UserPoolClient").items()
    }


def test_api_client_is_public_srp_only_and_revocable(stage_app):
    pool_id, _ = _one(stage_app, "Data", "AWS::Cognito::UserPool")
    props = _clients(stage_app)["ApiClient"]
    assert props["UserPoolId"] == {"Ref": pool_id}
    assert props["GenerateSecret"] is False
    assert props["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert props["PreventUserExistenceErrors"] == "ENABLED"
    assert props["EnableTokenRevocation"] is True
    assert props["IdTokenValidity"] == 60 and props["TokenValidityUnits"]["IdToken"] == "minutes"


def test_admins_group_exists(stage_app):
    pool_id, _ = _one(stage_app, "Data", "AWS::Cognito::UserPool")
    _, group = _one(stage_app, "Data", "AWS::Cognito::UserPoolGroup")
    assert group["Properties"]["GroupName"] == ADMINS_GROUP == "admins"
    assert group["Properties"]["UserPoolId"] == {"Ref": pool_id}


def test_required_mfa_is_a_stage_setting():
    context = copy.deepcopy(CDK_CONTEXT)
    context["stages"]["prod"]["userPool"] = {"mfa": "REQUIRED", "threatProtection": "FULL_FUNCTION"}
    config = load_stage_config(context, "prod")
    feature_flags = {key: value for key, value in context.items() if key.startswith("@aws-cdk")}
    stack = DataStack(App(context=feature_flags), "Data", config=config)

    props = Template.from_stack(stack).find_resources("AWS::Cognito::UserPool")
    ((_, pool),) = props.items()
    assert pool["Properties"]["MfaConfiguration"] == "ON"
    assert pool["Properties"]["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_only_a_stage_that_asks_for_it_has_the_e2e_client_and_it_takes_no_browser_sign_in(stage_app):
    """The e2e suite signs test users in against the deployed stage with the admin API (AWS credentials)."""
    clients = _clients(stage_app)
    assert ("E2eClient" in clients) is stage_app.config.user_pool.test_client
    assert stage_app.stage != "prod" or "E2eClient" not in clients
    if "E2eClient" in clients:
        e2e = clients["E2eClient"]
        assert e2e["ExplicitAuthFlows"] == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        assert e2e["GenerateSecret"] is False and "AllowedOAuthFlows" not in e2e
    outputs = stage_app.templates["Data"]["Outputs"]
    assert outputs["UserPoolId"]["Value"] == {"Ref": _one(stage_app, "Data", "AWS::Cognito::UserPool")[0]}
    assert "ApiUrl" in stage_app.templates["Service"]["Outputs"]
