"""What a function imports at init (a cold start pays for every module): what its first request does not
need is imported on first use. Each handler is imported in a fresh interpreter, as Lambda does, with
tracing enabled as in AWS (the test session disables it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import FUNCTIONS_DIR, SHARED_LAYER

FUNCTIONS = (
    "users_api",
    "orders_api",
    "uploads_api",
    "files_api",
    "order_processor",
    "order_projection",
    "upload_indexer",
    "daily_report",
)
API_FUNCTIONS = {"users_api", "orders_api", "uploads_api", "files_api"}
# Only what every handler reads at import; the values do not matter (no AWS call is made at init).
PLACEHOLDER_ENV = {
    name: "placeholder"
    for name in (
        "USERS_TABLE_NAME",
        "ORDERS_TABLE_NAME",
        "ORDERS_QUEUE_URL",
        "ORDERS_BY_USER_INDEX",
        "ORDERS_BY_DATE_INDEX",
        "IDEMPOTENCY_TABLE_NAME",
        "EVENT_BUS_NAME",
        "UPLOADS_BUCKET_NAME",
        "FILES_TABLE_NAME",
        "FILES_BY_USER_INDEX",
        "REPORTS_BUCKET_NAME",
        "PAGE_TOKEN_SECRET_ARN",
    )
} | {
    "UPLOAD_MAX_BYTES": "1024",
    "PRESIGN_EXPIRY_SECONDS": "300",
    "DOWNLOAD_EXPIRY_SECONDS": "300",
    "CORS_ALLOW_ORIGINS": "https://app.example.com",
}


def modules_after_init(folder: str, tmp_path) -> set[str]:
    code_dir = FUNCTIONS_DIR / folder
    env = {
        **PLACEHOLDER_ENV,
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": folder,
        # Inside Lambda (no POWERTOOLS_TRACE_DISABLED): Tracer patches as it does in AWS.
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_SERVICE_NAME": "orders",
        "POWERTOOLS_METRICS_NAMESPACE": "Orders/Test",
    }
    code = (
        f"import json, sys; sys.path[:0] = {[str(code_dir), str(SHARED_LAYER)]!r}; import handler; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_init_imports_only_what_the_first_request_needs(folder, tmp_path) -> None:
    modules = modules_after_init(folder, tmp_path)

    # X-Ray traces the AWS calls (botocore) and patches nothing else: patch_all would import every
    # library it supports that is installed, e.g. requests.
    assert "aws_xray_sdk.ext.botocore.patch" in modules
    assert "requests" not in modules
    # DynamoDB through the low-level client (service_common.aws): no resource, no condition builders.
    assert "boto3.dynamodb.conditions" not in modules
    assert "boto3.dynamodb.table" not in modules
    if folder in API_FUNCTIONS:
        # OpenAPI models: only to generate the spec. Parameters: only for the page token key.
        assert "aws_lambda_powertools.event_handler.openapi.models" not in modules
        assert "aws_lambda_powertools.utilities.parameters" not in modules
    if folder == "order_processor":
        # Powertools' batch loads its parser models only when pydantic was imported before it.
        assert "aws_lambda_powertools.utilities.parser.models" not in modules
        assert "aws_lambda_powertools.utilities.batch" in modules
