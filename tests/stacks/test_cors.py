"""CORS per stage: the API functions get the stage's origins, and API Gateway's preflight allows the same."""

from __future__ import annotations

import copy

import pytest

from stacks.config import ConfigError, load_stage_config
from tests.stacks.test_assertions import CDK_CONTEXT, config_of

API_FUNCTIONS = {"UsersApi", "OrdersApi", "UploadsApi", "FilesApi"}


def _functions_by_construct(stage_app) -> dict[str, dict]:
    # Logical ids start with the construct id (e.g. UsersApiFunction1A2B3C4D).
    functions = {}
    for logical_id, function in stage_app.service_functions().items():
        construct = next((name for name in API_FUNCTIONS if logical_id.startswith(f"{name}Function")), None)
        functions[construct or logical_id] = function
    return functions


def test_api_functions_get_the_stage_origins_and_no_other_function_does(stage_app):
    origins = config_of(stage_app).cors_allow_origins
    functions = _functions_by_construct(stage_app)
    assert set(functions) >= API_FUNCTIONS
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        if name in API_FUNCTIONS:
            assert variables["CORS_ALLOW_ORIGINS"] == ",".join(origins), name
        else:
            assert "CORS_ALLOW_ORIGINS" not in variables, name


def test_every_stage_lists_its_origins_explicitly():
    # '*' would let any site's script call the API with a token it obtained; each stage names its apps.
    for stage in CDK_CONTEXT["stages"]:
        origins = load_stage_config(CDK_CONTEXT, stage).cors_allow_origins
        assert "*" not in origins, stage
    assert load_stage_config(CDK_CONTEXT, "prod").cors_allow_origins == ["https://app.example.com"]
    # dev: a front-end dev server on this machine (Vite's default port), by either local name.
    assert load_stage_config(CDK_CONTEXT, "dev").cors_allow_origins == [
        "http://localhost:5173",
        "http://127.0.0.1:5173",
    ]


def test_preflight_allows_the_stage_origins_methods_and_headers(stage_app):
    origins = config_of(stage_app).cors_allow_origins
    preflights = [
        method["Properties"]
        for method in stage_app.resources("Service", "AWS::ApiGateway::Method").values()
        if method["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    for props in preflights:
        (response,) = props["Integration"]["IntegrationResponses"]
        headers = {
            name.removeprefix("method.response.header."): value.strip("'")
            for name, value in response["ResponseParameters"].items()
        }
        assert headers["Access-Control-Allow-Origin"] == origins[0]
        assert headers["Vary"] == "Origin"
        assert {"Authorization", "Content-Type"} <= set(headers["Access-Control-Allow-Headers"].split(","))
        assert {"GET", "POST", "PUT", "DELETE"} <= set(headers["Access-Control-Allow-Methods"].split(","))
        template = (response.get("ResponseTemplates") or {}).get("application/json", "")
        # The other origins are echoed by the mapping template (tests/local_runtime/test_cors_preflight.py).
        for origin in origins[1:]:
            assert f'$origin == "{origin}"' in template
        assert bool(template) == (len(origins) > 1)


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        (["*", "https://app.example.com"], "cannot be combined"),
        (["https://app.example.com/"], "'https://app.example.com/' is not an origin"),
        (["https://app.example.com/login"], "is not an origin"),
        (["app.example.com"], "is not an origin"),
        (["https://App.example.com"], "is not an origin"),
        ([], "at least 1 item"),
    ],
)
def test_a_malformed_origin_fails_synth_naming_it(origins, message):
    # The functions compare a browser's Origin as a string: one that can never match is a config bug.
    context = copy.deepcopy(CDK_CONTEXT)
    context["stages"]["prod"]["corsAllowOrigins"] = origins
    with pytest.raises(ConfigError, match=rf"stages\.prod\.corsAllowOrigins: .*{message}"):
        load_stage_config(context, "prod")


def test_synth_and_the_functions_accept_the_same_origins():
    """stacks.config checks corsAllowOrigins at synth and service_common.api checks the env var at init:
    one pattern, written twice because synth does not import the functions' layer (Powertools)."""
    from service_common import api as function_api

    from stacks import config as stage_config

    assert stage_config._ORIGIN.pattern == function_api._ORIGIN.pattern
