"""CORS preflights as API Gateway answers them for the template CDK synthesizes (MOCK integration + VTL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local_runtime import vtl
from local_runtime.api import ApiServer, rest_apis
from local_runtime.templates import App, TemplateError

FIRST, SECOND, THIRD = "http://localhost:5173", "http://127.0.0.1:5173", "https://app.example.com"


def cdk_template(origins: list[str]) -> dict:
    """A REST API with CDK's own CORS preflight (`default_cors_preflight_options`), synthesized by CDK."""
    from aws_cdk import App as CdkApp
    from aws_cdk import Stack
    from aws_cdk import aws_apigateway as apigw

    app = CdkApp()
    stack = Stack(app, "Cors")
    api = apigw.RestApi(
        stack,
        "Api",
        cloud_watch_role=False,
        deploy_options=apigw.StageOptions(stage_name="dev"),
        default_cors_preflight_options=apigw.CorsOptions(allow_origins=origins),
    )
    api.root.add_resource("items").add_method("GET", apigw.MockIntegration())
    return app.synth().get_stack_by_name("Cors").template


def serve(origins: list[str]) -> Iterator[str]:
    (api,) = rest_apis(App.from_templates({"Cors": cdk_template(origins)}))
    server = ApiServer(
        api, invoke=lambda *_: pytest.fail("a preflight never invokes a function"), account="1"
    )
    server.start()
    try:
        yield f"{server.base_url}items"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def several() -> Iterator[str]:
    yield from serve([FIRST, SECOND, THIRD])


@pytest.fixture(scope="module")
def one() -> Iterator[str]:
    yield from serve([THIRD])


@pytest.fixture(scope="module")
def anyone() -> Iterator[str]:
    yield from serve(["*"])


def preflight(url: str, origin: str | None) -> requests.Response:
    headers = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}
    if origin is not None:
        headers["Origin"] = origin
    response = requests.options(url, headers=headers, timeout=10)
    assert response.status_code == 204 and response.content == b""
    return response


@pytest.mark.parametrize("origin", [FIRST, SECOND, THIRD])
def test_several_origins_each_allowed_origin_is_echoed(several: str, origin: str) -> None:
    response = preflight(several, origin)
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Vary"] == "Origin"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"].split(",")
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"].split(",")


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://127.0.0.1:5174", None])
def test_several_origins_anything_else_gets_the_first_which_a_browser_refuses(
    several: str, origin: str | None
) -> None:
    # The static header CDK renders: a browser at `origin` sees someone else's origin and blocks the call.
    assert preflight(several, origin).headers["Access-Control-Allow-Origin"] == FIRST


@pytest.mark.parametrize("origin", [THIRD, "https://evil.example.com"])
def test_one_origin_is_a_static_header(one: str, origin: str) -> None:
    response = preflight(one, origin)
    assert response.headers["Access-Control-Allow-Origin"] == THIRD and response.headers["Vary"] == "Origin"


def test_star_allows_every_origin(anyone: str) -> None:
    response = preflight(anyone, "https://anyone.example")
    assert response.headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in response.headers


# --- the mapping-template subset on its own ---------------------------------------------------------


def test_template_language_branches_and_overrides() -> None:
    template = vtl.compile_template(
        """## a comment
        #set($mode = $input.params("mode"))
        #if($mode == "teapot" && $input.params().header.get("X-Brew") != "no")
          #set($context.responseOverride.status = "418")
        #elseif(!($mode == "quiet"))
          #set($context.responseOverride.header.X-Mode = $mode)
        #else
          quiet
        #end"""
    )
    assert template.render(vtl.Request(query={"mode": "teapot"})).status == 418
    assert template.render(vtl.Request(query={"mode": "teapot"}, headers={"X-Brew": "no"})).headers == {
        "X-Mode": "teapot"
    }
    quiet = template.render(vtl.Request(path={"mode": "quiet"}))
    assert quiet.status is None and quiet.headers == {} and quiet.body.strip() == "quiet"


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("#foreach($x in $list) $x #end", "#foreach"),
        ("$context.requestId", "$context.requestId"),
        ("#set($input.params().header.get('a') = 'b')", "cannot #set"),
        ("#if($a == 'b') open", "missing #end"),
        ("#set($a = )", "expected a string or a $reference"),
    ],
)
def test_what_is_not_emulated_is_refused_by_name(source: str, named: str) -> None:
    with pytest.raises(TemplateError, match=named.replace("$", r"\$").replace("(", r"\(")):
        vtl.compile_template(source)
