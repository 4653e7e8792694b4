"""The API contract review: scripts/openapi_diff.py on small documents, and `diff_ref.py --api-only`."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.conftest import PROJECT_ROOT


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


openapi_diff = _script("openapi_diff")


def _json(schema_ref: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


# A small API in the shape Powertools generates: $refs, optional values as anyOf [X, null], enums.
BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/orders": {
            "post": {
                "requestBody": {"required": True, **_json("OrderFields")},
                "responses": {
                    "202": {"description": "Accepted", **_json("Order")},
                    "422": {"description": "Invalid", **_json("Error")},
                },
            }
        },
        "/orders/{orderId}": {
            "get": {
                "parameters": [
                    {"in": "path", "name": "orderId", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "OK", **_json("Order")},
                    "404": {"description": "Missing", **_json("Error")},
                },
            }
        },
        "/users": {
            "get": {
                "parameters": [
                    {"in": "query", "name": "limit", "required": False, "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "OK"}},
            }
        },
    },
    "components": {
        "schemas": {
            "OrderFields": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "maxLength": 64},
                    "quantity": {"type": "integer", "minimum": 1},
                    "priority": {"type": "string", "enum": ["LOW", "NORMAL", "HIGH"]},
                },
                "required": ["sku", "quantity"],
            },
            "Order": {
                "type": "object",
                "properties": {
                    "orderId": {"type": "string"},
                    "status": {"type": "string", "enum": ["ACCEPTED", "CONFIRMED"]},
                    "confirmedAt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["orderId", "status"],
            },
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
        }
    },
}


def changed(edit) -> Any:
    new = copy.deepcopy(BASE)
    edit(new)
    return openapi_diff.compare(BASE, new)


def breaking(diff) -> list[str]:
    return [str(change) for change in diff.breaking]


def schemas(doc: dict) -> dict:
    return doc["components"]["schemas"]


def test_identical_documents_have_no_changes():
    diff = openapi_diff.compare(BASE, copy.deepcopy(BASE))
    assert (diff.added, diff.removed, diff.changes) == ([], [], [])
    assert openapi_diff.render(diff) == "No API changes.\n"


def test_a_removed_operation_is_breaking():
    diff = changed(lambda d: d["paths"]["/orders/{orderId}"].pop("get"))
    assert diff.removed == ["GET /orders/{orderId}"]
    assert breaking(diff) == ["GET /orders/{orderId}: operation removed"]


def test_a_new_required_request_field_is_breaking():
    def edit(d):
        schemas(d)["OrderFields"]["properties"]["currency"] = {"type": "string"}
        schemas(d)["OrderFields"]["required"].append("currency")

    assert breaking(changed(edit)) == [
        "POST /orders: request body.currency: property currency added (required)"
    ]


def test_an_optional_request_field_that_becomes_required_is_breaking():
    diff = changed(lambda d: schemas(d)["OrderFields"]["required"].append("priority"))
    assert breaking(diff) == ["POST /orders: request body.priority: became required"]


def test_a_narrowed_request_enum_is_breaking():
    diff = changed(lambda d: schemas(d)["OrderFields"]["properties"]["priority"]["enum"].remove("HIGH"))
    assert breaking(diff) == ['POST /orders: request body.priority: enum values removed: "HIGH"']


def test_a_narrowed_request_type_and_a_tighter_bound_are_breaking():
    def edit(d):
        quantity = schemas(d)["OrderFields"]["properties"]["quantity"]
        quantity["type"], quantity["minimum"] = "integer", 2
        d["paths"]["/users"]["get"]["parameters"][0]["schema"] = {"type": "integer", "maximum": 100}

    assert breaking(changed(edit)) == [
        "GET /users: query parameter limit: maximum None → 100",
        "POST /orders: request body.quantity: minimum 1 → 2",
    ]
    # number → integer narrows too (1.5 was accepted before)
    diff = changed(lambda d: schemas(d)["OrderFields"]["properties"]["sku"].update(type="integer"))
    assert breaking(diff) == ["POST /orders: request body.sku: type string → integer"]


def test_a_removed_response_is_breaking():
    diff = changed(lambda d: d["paths"]["/orders/{orderId}"]["get"]["responses"].pop("404"))
    assert breaking(diff) == ["GET /orders/{orderId}: response 404: removed"]


def test_response_changes_break_clients_in_the_other_direction():
    def edit(d):
        order = schemas(d)["Order"]
        order["properties"]["status"]["enum"].append("CANCELLED")  # a value clients never saw
        order["properties"].pop("confirmedAt")  # optional: clients must already cope without it
        order["required"].remove("status")  # may now be missing
        order["properties"]["orderId"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}  # may be null

    # Order is the response of two operations: reported on each.
    assert breaking(changed(edit)) == [
        f"{op}: response {status}.{change}"
        for op, status in (("GET /orders/{orderId}", 200), ("POST /orders", 202))
        for change in (
            "orderId: type string → null, string",
            "status: became optional",
            'status: enum values added: "CANCELLED"',
        )
    ]


def test_non_breaking_changes_are_listed_but_not_flagged():
    def edit(d):
        schemas(d)["OrderFields"]["properties"]["note"] = {"type": "string"}  # optional request field
        d["paths"]["/files"] = {"get": {"responses": {"200": {"description": "OK"}}}}  # new operation
        schemas(d)["Order"]["properties"]["total"] = {"type": "integer"}  # new response field
        schemas(d)["Order"]["required"].append("total")
        schemas(d)["OrderFields"]["properties"]["priority"]["enum"].append("URGENT")  # wider request enum

    diff = changed(edit)
    assert diff.breaking == []
    assert diff.added == ["GET /files"]
    assert diff.changed == ["GET /orders/{orderId}", "POST /orders"]
    text = openapi_diff.render(diff)
    assert "WARNING" not in text
    assert "- GET /files" in text
    assert "  - request body.note: property note added (optional)" in text
    assert '  - request body.priority: enum values added: "URGENT"' in text


def test_recursive_schemas_terminate():
    def tree(d):
        schemas(d)["Node"] = {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}},
        }
        d["paths"]["/users"]["get"]["responses"]["200"] = {"description": "OK", **_json("Node")}

    old = copy.deepcopy(BASE)
    tree(old)
    new = copy.deepcopy(old)
    schemas(new)["Node"]["properties"]["name"] = {"type": "string"}
    diff = openapi_diff.compare(old, new)
    assert [str(c) for c in diff.changes] == ["GET /users: response 200.name: property name added (optional)"]


def test_the_project_document_compared_with_itself_has_no_changes():
    document = json.loads((PROJECT_ROOT / "docs" / "openapi.json").read_text())
    assert openapi_diff.compare(document, copy.deepcopy(document)).changes == []


# --- through diff_ref's entry point, on a git repository with docs/openapi.json --------------------


def _git(*args: str, cwd: Path) -> None:
    who = ("-c", "user.name=t", "-c", "user.email=t@localhost")
    subprocess.run(["git", *who, *args], cwd=cwd, check=True, capture_output=True)


def test_diff_ref_reports_breaking_api_changes_first(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    document = json.loads((PROJECT_ROOT / "docs" / "openapi.json").read_text())
    (repo / "docs" / "openapi.json").write_text(json.dumps(document))
    _git("init", "--quiet", "--initial-branch=main", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "--quiet", "-m", "base", cwd=repo)
    # The working tree: POST /uploads gone, a new required order field, GET /health added.
    document["paths"].pop("/uploads")
    order_fields = document["components"]["schemas"]["OrderFields"]
    order_fields["properties"]["currency"] = {"type": "string", "enum": ["EUR", "USD"]}
    order_fields["required"].append("currency")
    assert "/health" not in document["paths"]
    document["paths"]["/health"] = {"get": {"responses": {"200": {"description": "OK"}}}}
    (repo / "docs" / "openapi.json").write_text(json.dumps(document))

    diff_ref = _script("diff_ref")
    monkeypatch.setattr(diff_ref, "PROJECT_ROOT", repo)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert diff_ref.main(["main", "--api-only"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "**WARNING: breaking API changes:**\n"
        "- POST /orders: request body.currency: property currency added (required)\n"
        "- POST /uploads: operation removed\n"
    )
    assert "## API contract (docs/openapi.json): working tree vs main" in printed
    assert "Added operations:\n- GET /health" in printed
    assert "Removed operations:\n- POST /uploads" in printed
    assert "## cdk diff" not in printed  # --api-only: no synth
    assert summary.read_text() == printed[:-1]  # print() adds the last newline


def test_the_report_puts_data_loss_and_breaking_api_warnings_above_both_diffs():
    diff_ref = _script("diff_ref")
    infra = "[-] AWS::S3::Bucket Uploads/Bucket UploadsBucketA1B2C3D4 destroy\n"
    new = copy.deepcopy(BASE)
    new["paths"].pop("/users")
    api = openapi_diff.compare(BASE, new)
    text = diff_ref.report_text("main", "prod", infra, api)
    lines = text.splitlines()
    assert lines[0] == "**WARNING: stateful resources would lose their data:**"
    assert (
        lines.index("**WARNING: breaking API changes:**")
        < lines.index("## API contract (docs/openapi.json): working tree vs main")
        < lines.index("## cdk diff: working tree vs main (stage prod)")
    )
    assert "- GET /users: operation removed" in lines
