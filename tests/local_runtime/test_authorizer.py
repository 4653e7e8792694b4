"""The API's Cognito user pool authorizer, as API Gateway runs it, on the sample runtime and on its own."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from moto.utilities.utils import load_resource

from local_runtime import gateway_responses
from local_runtime.__main__ import main
from local_runtime.api import rest_apis
from local_runtime.authorizer import (
    EXPIRED,
    CognitoAuthorizer,
    UnauthorizedError,
    Verifier,
    java_date,
    render_claims,
)
from local_runtime.cognito import UserError, generate_password
from local_runtime.runtime import Runtime
from local_runtime.templates import App, TemplateError
from tests.local_runtime.sample_app import PASSWORD_POLICY, data_template, service_template

# The key moto signs every pool's tokens with (its JWKS serves the public half, kid "dummy").
PRIVATE_JWK = "cognitoidp/resources/jwks-private.json"
MOTO_KEY = RSAKey.import_key(load_resource(PRIVATE_JWK))
MOTO_JWKS = load_resource("cognitoidp/resources/jwks-public.json")


def mint(claims: dict[str, Any], key: Any = MOTO_KEY, alg: str = "RS256", kid: str | None = "dummy") -> str:
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims, key, algorithms=[alg])


def unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'kid': 'dummy'})}.{part(claims)}."


def id_claims(pool_id: str, client_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
        "sub": "11111111-2222-3333-4444-555555555555",
        "aud": client_id,
        "token_use": "id",
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
        "email": "minted@example.com",
        **extra,
    }


# ------------------------------------------------------------------------------------- on the sample runtime
@pytest.fixture(scope="module")
def api(sample_runtime: Runtime) -> str:
    return sample_runtime.api_servers[0].base_url


@pytest.fixture(scope="module")
def pool(sample_runtime: Runtime) -> dict[str, Any]:
    return sample_runtime.summary["user_pools"]["UserPool"]


@pytest.fixture(scope="module")
def alice(sample_runtime: Runtime) -> dict[str, Any]:
    return sample_runtime.create_user("alice@example.com", groups=["admins", "editors"])


def call(api: str, token: str | None = None, path: str = "me", method: str = "GET") -> requests.Response:
    headers = {"Authorization": token} if token is not None else {}
    return requests.request(method, f"{api}{path}", headers=headers, timeout=30)


def assert_unauthorized(response: requests.Response, message: str = "Unauthorized") -> None:
    """401 with the template's UNAUTHORIZED gateway response, not the handler's answer."""
    assert response.status_code == 401, response.text
    request_id = response.headers["x-amzn-RequestId"]
    assert response.json() == {
        "error": "Unauthorized",
        "message": message,
        "details": [],
        "requestId": request_id,
    }
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"


def test_a_valid_id_token_reaches_the_handler_with_the_claims_as_rest_renders_them(
    api: str, alice: dict[str, Any], pool: dict[str, Any]
) -> None:
    for header in (alice["idToken"], f"Bearer {alice['idToken']}"):
        response = call(api, header)
        assert response.status_code == 200, response.text
        claims = response.json()["requestContext"]["authorizer"]["claims"]
        assert claims["sub"] == alice["sub"] and claims["email"] == "alice@example.com"
        assert set(claims["cognito:groups"].split(",")) == {"admins", "editors"}
        assert claims["token_use"] == "id" and claims["aud"] == next(iter(pool["clients"].values()))
        assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool['id']}"
        assert re.fullmatch(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", claims["exp"])
        assert claims["auth_time"].isdigit()
        assert all(isinstance(v, str) for v in claims.values())
    posted = call(api, alice["idToken"], method="POST")
    assert posted.status_code == 200 and "authorizer" in posted.json()["requestContext"]


def test_a_method_without_authorizer_gets_no_authorizer_key(api: str) -> None:
    response = call(api, path="public")
    assert response.status_code == 200
    assert "authorizer" not in response.json()["requestContext"]
    preflight = requests.options(f"{api}me", timeout=10)  # CORS preflight (MOCK) needs no token
    assert (
        preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Headers"] == "Authorization"
    )


def test_missing_malformed_unsigned_and_hs256_tokens_are_refused(api: str, pool: dict[str, Any]) -> None:
    client = next(iter(pool["clients"].values()))
    claims = id_claims(pool["id"], client)
    assert_unauthorized(call(api))
    assert_unauthorized(call(api, ""))
    assert_unauthorized(call(api, "Bearer "))
    assert_unauthorized(call(api, "not-a-jwt"))
    assert_unauthorized(call(api, "a.b.c"))
    assert_unauthorized(call(api, unsigned(claims)))
    assert_unauthorized(call(api, mint(claims, OctKey.import_key(b"s" * 32), alg="HS256")))


def test_tokens_signed_by_the_pools_key_pass_only_while_unexpired(api: str, pool: dict[str, Any]) -> None:
    client = next(iter(pool["clients"].values()))
    fresh = call(api, mint(id_claims(pool["id"], client)))  # the minting itself is right...
    assert fresh.status_code == 200
    assert fresh.json()["requestContext"]["authorizer"]["claims"]["email"] == "minted@example.com"
    now = int(time.time())
    expired = mint(id_claims(pool["id"], client, iat=now - 7200, auth_time=now - 7200, exp=now - 3600))
    assert_unauthorized(call(api, expired), EXPIRED)  # ...so only exp makes this one fail


def test_forged_unknown_client_other_pool_and_access_tokens_are_refused(
    sample_runtime: Runtime, api: str, pool: dict[str, Any], alice: dict[str, Any]
) -> None:
    client = next(iter(pool["clients"].values()))
    forged_key = RSAKey.generate_key(2048)
    assert_unauthorized(call(api, mint(id_claims(pool["id"], client), forged_key)))  # same kid, own key
    assert_unauthorized(call(api, mint(id_claims(pool["id"], "notaclientofthispool12345"))))
    assert_unauthorized(call(api, mint(id_claims(pool["id"], client), kid="other")))
    assert_unauthorized(call(api, alice["accessToken"]))
    # A real token of another pool in the same moto (same signing key, so only iss tells them apart).
    idp = sample_runtime.client("cognito-idp")
    other = idp.create_user_pool(PoolName="other", UsernameAttributes=["email"])["UserPool"]["Id"]
    other_client = idp.create_user_pool_client(UserPoolId=other, ClientName="c")["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=other, Username="eve@example.com", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=other, Username="eve@example.com", Password="Aa1!aaaaaaaaaa", Permanent=True
    )
    tokens = idp.admin_initiate_auth(
        UserPoolId=other,
        ClientId=other_client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "eve@example.com", "PASSWORD": "Aa1!aaaaaaaaaa"},
    )["AuthenticationResult"]
    assert_unauthorized(call(api, tokens["IdToken"]))
    # A client added to the authorizer's pool after start-up is one of its clients from then on.
    late = idp.create_user_pool_client(UserPoolId=pool["id"], ClientName="late")["UserPoolClient"]["ClientId"]
    assert call(api, mint(id_claims(pool["id"], late))).status_code == 200


def test_other_gateway_errors_inherit_the_default_4xx_response(api: str) -> None:
    response = requests.get(f"{api}nowhere", timeout=10)
    assert response.status_code == 403
    body = response.json()
    assert (
        body["error"] == "MISSING_AUTHENTICATION_TOKEN" and body["message"] == "Missing Authentication Token"
    )
    assert body["requestId"] == response.headers["x-amzn-RequestId"]


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_a_method_api_gateway_does_not_route_gets_the_json_gateway_error(api: str, method: str) -> None:
    """API Gateway answers a method the resource does not have with MISSING_AUTHENTICATION_TOKEN (403),
    never an HTML page (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)."""
    response = requests.request(method, f"{api}users", timeout=10)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "MISSING_AUTHENTICATION_TOKEN"


def test_create_user_reuses_users_and_checks_groups_and_pools(sample_runtime: Runtime) -> None:
    first = sample_runtime.create_user("carol@example.com")
    assert first["groups"] == [] and len(first["password"]) >= PASSWORD_POLICY["MinimumLength"]
    again = sample_runtime.create_user("carol@example.com", groups=["editors"])
    assert again["sub"] == first["sub"] and again["password"] == first["password"]
    assert again["groups"] == ["editors"]
    with pytest.raises(
        UserError, match=r"no group 'nope' in user pool UserPool \(groups in the template: admins, editors\)"
    ):
        sample_runtime.create_user("carol@example.com", groups=["nope"])
    with pytest.raises(UserError, match=r"no user pool called 'Missing' \(pools: UserPool \("):
        sample_runtime.create_user("carol@example.com", pool="Missing")
    assert sample_runtime.create_user("carol@example.com", pool="UserPool6BA7E5F2")["sub"] == first["sub"]
    with pytest.raises(UserError, match="InvalidPasswordException"):
        sample_runtime.create_user("carol@example.com", password="short")


def test_generated_passwords_meet_the_policy() -> None:
    for _ in range(50):
        password = generate_password({**PASSWORD_POLICY, "MinimumLength": 24})
        assert len(password) >= 24
        assert re.search(r"[a-z]", password) and re.search(r"[A-Z]", password) and re.search(r"\d", password)
        assert re.search(r"[^A-Za-z0-9]", password)


def test_token_cli_prints_only_an_id_token_the_api_accepts(
    sample_runtime: Runtime, api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = str(sample_runtime.options.state_dir)
    assert main(["--state-dir", state_dir, "token", "dave@example.com", "--admin"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n" and token.count(".") == 2
    assert "dave@example.com" in err and "admins" in err and "curl -H" in err
    response = call(api, token)
    assert response.status_code == 200
    assert response.json()["requestContext"]["authorizer"]["claims"]["cognito:groups"] == "admins"
    assert main(["--state-dir", state_dir, "token", "dave@example.com", "--group", "nope"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no group 'nope'" in err and "admins, editors" in err


def test_control_endpoint_state_and_banner(sample_runtime: Runtime, pool: dict[str, Any]) -> None:
    control = sample_runtime.summary["control"]
    made = requests.post(
        f"{control}/user", json={"username": "erin@example.com", "groups": ["admins"]}, timeout=30
    )
    assert made.status_code == 200 and made.json()["groups"] == ["admins"] and made.json()["idToken"]
    refused = requests.post(f"{control}/user", json={"groups": []}, timeout=30)
    assert refused.status_code == 400 and "username" in refused.json()["error"]
    state = json.loads((sample_runtime.options.state_dir / "state.json").read_text())
    assert state["user_pools"]["UserPool"]["groups"] == ["admins", "editors"]
    assert pool["id"].startswith("us-east-1_") and pool["arn"].endswith(f"userpool/{pool['id']}")
    output = "\n".join(sample_runtime.output)  # type: ignore[attr-defined]
    assert "python -m local_runtime token alice@example.com" in output
    assert "AWS::ApiGateway::GatewayResponse" in output and "SKIPPED: default gateway" not in output


# ------------------------------------------------------------------------------------------------ on its own
POOL = "us-east-1_unitpool"
AUTHORIZER = CognitoAuthorizer(
    "Auth", "auth", "Authorization", [f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{POOL}"]
)


def verifier(clients: set[str] | None = None, now: float | None = None) -> tuple[Verifier, list[str]]:
    fetched: list[str] = []

    def fetch(pool_id: str) -> dict[str, Any]:
        fetched.append(pool_id)
        return MOTO_JWKS

    clock = (lambda: now) if now is not None else time.time
    return Verifier(fetch, lambda _pool: clients or {"client1"}, clock=clock), fetched


def test_verifier_checks_times_scopes_and_the_validation_expression() -> None:
    check, fetched = verifier()
    good = id_claims(POOL, "client1")
    assert check.verify(mint(good), AUTHORIZER)["email"] == "minted@example.com"
    assert check.verify(mint(good), AUTHORIZER)  # keys cached: one fetch
    assert fetched == [POOL]
    with pytest.raises(UnauthorizedError, match="kid 'rotated'"):
        check.verify(mint(good, kid="rotated"), AUTHORIZER)
    assert fetched == [POOL, POOL]  # an unknown kid: the JWKS is fetched again once, then refused
    for bad, reason in (
        ({**good, "nbf": int(time.time()) + 3600}, "nbf is in the future"),
        ({**good, "iat": int(time.time()) + 3600}, "iat is in the future"),
        ({k: v for k, v in good.items() if k != "exp"}, "no exp claim"),
        ({**good, "exp": "tomorrow"}, "exp is not a number"),
        ({**good, "token_use": "access"}, "an ID token is required"),
    ):
        with pytest.raises(UnauthorizedError) as refused:
            check.verify(mint(bad), AUTHORIZER)
        assert refused.value.message == "Unauthorized" and reason in refused.value.reason
    any_alg = RSAKey.import_key({k: v for k, v in load_resource(PRIVATE_JWK).items() if k != "alg"})
    with pytest.raises(UnauthorizedError, match="alg 'RS384'"):  # the pool's own key, another algorithm
        check.verify(mint(good, any_alg, alg="RS384"), AUTHORIZER)
    with pytest.raises(UnauthorizedError, match="no kid"):
        check.verify(mint(good, kid=None), AUTHORIZER)
    late, _ = verifier(now=good["exp"] + 1)
    with pytest.raises(UnauthorizedError) as expired:
        late.verify(mint(good), AUTHORIZER)
    assert expired.value.message == EXPIRED
    access = {**good, "token_use": "access", "client_id": "client1", "scope": "orders/read openid"}
    del access["aud"]
    assert check.verify(mint(access), AUTHORIZER, ["orders/read"])["scope"] == "orders/read openid"
    with pytest.raises(UnauthorizedError, match="none of the scopes"):
        check.verify(mint(access), AUTHORIZER, ["orders/write"])
    with pytest.raises(UnauthorizedError, match="access token is required"):
        check.verify(mint(good), AUTHORIZER, ["orders/read"])
    strict = CognitoAuthorizer(
        "Auth", "auth", "X-Token", AUTHORIZER.provider_arns, validation_expression=r"[\w-]+\.[\w-]+\.[\w-]+"
    )
    assert check.authorize(strict, [], {"x-token": mint(good)})["aud"] == "client1"
    with pytest.raises(UnauthorizedError, match="IdentityValidationExpression"):
        check.authorize(strict, [], {"X-Token": mint(good) + "!"})
    with pytest.raises(UnauthorizedError, match="no X-Token header"):
        check.authorize(strict, [], {"Authorization": mint(good)})


def test_claims_rendering_is_strings_dates_and_comma_lists() -> None:
    assert java_date(1469814773) == "Fri Jul 29 17:52:53 UTC 2016"  # the iat of a captured AWS event
    assert java_date(1469818373) == "Fri Jul 29 18:52:53 UTC 2016"  # the exp of a captured AWS event
    assert java_date(1767571200) == "Mon Jan 05 00:00:00 UTC 2026"  # zero-padded day, as Java's Date
    rendered = render_claims(
        {
            "exp": 1469818373,
            "iat": 1469814773,
            "auth_time": 1469814773,
            "email_verified": True,
            "cognito:groups": ["admins", "editors"],
            "custom:n": 3,
            "address": {"country": "NZ"},
            "sub": "s",
        }
    )
    assert rendered == {
        "exp": "Fri Jul 29 18:52:53 UTC 2016",
        "iat": "Fri Jul 29 17:52:53 UTC 2016",
        "auth_time": "1469814773",
        "email_verified": "true",
        "cognito:groups": "admins,editors",
        "custom:n": "3",
        "address": '{"country":"NZ"}',
        "sub": "s",
    }


def test_gateway_responses_specific_inherited_and_built_in() -> None:
    custom = {
        "UNAUTHORIZED": gateway_responses.from_properties(
            {
                "ResponseType": "UNAUTHORIZED",
                "StatusCode": "401",
                "ResponseParameters": {
                    "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
                    "gatewayresponse.header.X-Static": "'yes'",
                },
                "ResponseTemplates": {
                    "application/json": '{"m":$context.error.messageString,"raw":"${context.error.message}"}'
                },
            }
        ),
        "DEFAULT_4XX": gateway_responses.from_properties(
            {
                "ResponseType": "DEFAULT_4XX",
                "ResponseTemplates": {
                    "application/json": '{"type":"$context.error.responseType",'
                    '"id":"$context.requestId","x":"$context.nope"}'
                },
            }
        ),
    }
    request = gateway_responses.Request(context={"requestId": "r1"}, headers={"origin": "https://app"})
    unauthorized = gateway_responses.render(custom, "UNAUTHORIZED", 'say "hi"', request)
    # messageString is the JSON-quoted message; message is inserted as it is (so it may break the JSON)
    assert unauthorized.status == 401 and unauthorized.body == b'{"m":"say \\"hi\\"","raw":"say "hi""}'
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "https://app"
    assert (
        unauthorized.headers["X-Static"] == "yes"
        and unauthorized.headers["Content-Type"] == "application/json"
    )
    inherited = gateway_responses.render(custom, "BAD_REQUEST_PARAMETERS", "Missing", request)
    assert inherited.status == 400
    assert json.loads(inherited.body) == {"type": "BAD_REQUEST_PARAMETERS", "id": "r1", "x": ""}
    built_in = gateway_responses.render({}, "UNAUTHORIZED", "Unauthorized", request)
    assert (built_in.status, json.loads(built_in.body)) == (401, {"message": "Unauthorized"})
    server_error = gateway_responses.render(custom, "DEFAULT_5XX", "Internal server error", request)
    assert json.loads(server_error.body) == {"message": "Internal server error"}  # 5xx do not inherit 4XX


def test_authorizers_are_parsed_per_method_and_unsupported_ones_are_named() -> None:
    service = service_template()
    # The orders service references the pool ARN with Fn::GetStackOutput, not an export.
    service["Resources"]["ApiAuthorizer787544C1"]["Properties"]["ProviderARNs"] = [
        {"Fn::GetStackOutput": {"StackName": "Test-Data", "OutputName": "UserPoolArn", "Region": "us-east-1"}}
    ]
    app = App.from_templates({"Test-Data": data_template(), "Test-Service": service})
    (api,) = rest_apis(app)
    pool_arn = app.get_att(app.stack("Test-Data"), "UserPool6BA7E5F2", "Arn")
    assert re.fullmatch(r"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_\w{9}", pool_arn)
    me = api.methods["/me"]["GET"].authorizer
    assert me is not None and me.provider_arns == [pool_arn] and me.header == "Authorization"
    assert api.methods["/me"]["POST"].authorizer is me
    assert (
        api.methods["/public"]["GET"].authorizer is None and api.methods["/me"]["OPTIONS"].authorizer is None
    )
    assert set(api.gateway_responses) == {"UNAUTHORIZED", "DEFAULT_4XX"}
    app.bound_ids[("Test-Data", "UserPool6BA7E5F2")] = "us-east-1_frommoto"  # once moto has created it
    assert app.get_att(app.stack("Test-Data"), "UserPool6BA7E5F2", "Arn").endswith(
        "userpool/us-east-1_frommoto"
    )
    authorizer = service["Resources"]["ApiAuthorizer787544C1"]["Properties"]
    authorizer["Type"] = "TOKEN"  # a Lambda authorizer needs its function
    with pytest.raises(
        TemplateError, match=r"ApiAuthorizer787544C1: authorizer URI None is not a Lambda function"
    ):
        rest_apis(App.from_templates({"Test-Data": data_template(), "Test-Service": service}))
    authorizer["AuthorizerUri"] = (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:auth/invocations"
    )
    with pytest.raises(
        TemplateError, match=r"ApiMe(GET|POST): COGNITO_USER_POOLS method with authorizer type"
    ):
        rest_apis(App.from_templates({"Test-Data": data_template(), "Test-Service": service}))
    service["Resources"]["ApiMeGET"]["Properties"]["AuthorizationType"] = "SIGNED_SOMEHOW"
    with pytest.raises(TemplateError, match=r"ApiMeGET: authorization type SIGNED_SOMEHOW is not emulated"):
        rest_apis(App.from_templates({"Test-Data": data_template(), "Test-Service": service}))
