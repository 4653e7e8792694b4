"""docs/openapi.json is generated from the API functions and must match them."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import PROJECT_ROOT

SPEC_FILE = PROJECT_ROOT / "docs" / "openapi.json"


def _load_script() -> ModuleType:
    # scripts/ is not a package: load the file as a module.
    spec = importlib.util.spec_from_file_location("openapi_script", PROJECT_ROOT / "scripts" / "openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def spec(script: ModuleType) -> dict:
    return script.build_spec()


def test_committed_spec_is_up_to_date(script: ModuleType, spec: dict) -> None:
    assert SPEC_FILE.is_file(), (
        "docs/openapi.json is missing: run python scripts/openapi.py --output docs/openapi.json"
    )
    assert SPEC_FILE.read_text() == script.render(spec), (
        "docs/openapi.json is stale: run python scripts/openapi.py --output docs/openapi.json"
    )


def test_spec_lists_every_api_operation(spec: dict) -> None:
    operations = {(path, method) for path, methods in spec["paths"].items() for method in methods}

    assert operations == {
        ("/users", "post"),
        ("/users", "get"),
        ("/users/{userId}", "get"),
        ("/users/{userId}", "put"),
        ("/users/{userId}", "delete"),
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{orderId}", "get"),
        ("/uploads", "post"),
        ("/files", "get"),
        ("/files/{fileId}", "get"),
        ("/files/{fileId}", "delete"),
    }
    assert spec["info"] == {"title": "Orders service API", "version": "1.0.0"}
    assert spec["openapi"].startswith("3.")


def test_spec_documents_the_real_success_statuses(spec: dict) -> None:
    users, user = spec["paths"]["/users"], spec["paths"]["/users/{userId}"]

    created = users["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/User"}
    assert "200" not in users["post"]["responses"]
    assert not user["delete"]["responses"]["204"].get("content")
    assert "200" not in user["delete"]["responses"]
    for operation in (users["get"], user["get"], user["put"]):
        assert "200" in operation["responses"]


def test_spec_documents_the_listings_and_the_file_routes(spec: dict) -> None:
    orders, files, file = (
        spec["paths"]["/orders"]["get"],
        spec["paths"]["/files"]["get"],
        spec["paths"]["/files/{fileId}"],
    )
    assert {p["name"] for p in orders["parameters"]} == {"limit", "nextToken", "status", "userId"}
    assert {"400", "403"} <= set(orders["responses"])  # a bad nextToken; another user's orders
    assert {p["name"] for p in files["parameters"]} == {"limit", "nextToken"} and "400" in files["responses"]
    assert file["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FileDownload"
    }
    assert not file["delete"]["responses"]["204"].get("content") and "404" in file["delete"]["responses"]


def test_spec_documents_the_request_models(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    body_ref = {"$ref": "#/components/schemas/UserFields"}

    assert spec["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"] == body_ref
    assert schemas["UserFields"]["additionalProperties"] is False
    assert schemas["UserFields"]["properties"]["email"]["format"] == "email"
    limit = next(p for p in spec["paths"]["/users"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (
        1,
        100,
        20,
    )


def test_every_operation_documents_the_json_error_contract(spec: dict) -> None:
    error_ref = "#/components/schemas/ErrorBody"
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {
        "error",
        "message",
        "details",
        "requestId",
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {code for code in responses if code.startswith(("4", "5"))}
            assert {"422", "500"} <= errors, f"{method} {path}"
            for code in errors:
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, f"{method} {path} {code}"


def test_building_the_spec_leaves_the_environment_alone(script: ModuleType) -> None:
    before = dict(os.environ)

    script.build_spec()

    assert dict(os.environ) == before


def test_check_fails_with_a_clear_message_when_stale(
    script: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "openapi.json"

    assert script.main(["--check", "--output", str(target)]) == 1
    assert "missing" in capsys.readouterr().err

    target.write_text("{}\n")
    assert script.main(["--check", "--output", str(target)]) == 1
    assert f"{target} is stale" in capsys.readouterr().err

    assert script.main(["--output", str(target)]) == 0
    assert json.loads(target.read_text())["paths"]
    assert script.main(["--check", "--output", str(target)]) == 0


def test_every_status_a_handler_returns_is_documented(spec: dict) -> None:
    # uploads_api answers 413 FileTooLarge above the size limit; the spec used to omit it.
    assert "413" in spec["paths"]["/uploads"]["post"]["responses"]
    next_token = next(p for p in spec["paths"]["/users"]["get"]["parameters"] if p["name"] == "nextToken")
    assert next_token["schema"]["anyOf"][0]["minLength"] == 1  # `?nextToken=` is rejected, not ignored


def test_spec_declares_the_cognito_security_scheme_on_every_operation(spec: dict) -> None:
    scheme = spec["components"]["securitySchemes"]["CognitoUserPool"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert spec["security"] == [{"CognitoUserPool": []}]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation.get("security", spec["security"]) == spec["security"], (method, path)
            assert "401" in operation["responses"], (method, path)
