"""Plain `logging` in a function reaches its log as in Lambda: the runtime puts a handler on the root
logger (text: `[LEVEL]\\ttime\\trequest id\\tmessage`; JSON log format: a JSON record), the root level is
AWS_LAMBDA_LOG_LEVEL when set, else Python's WARNING."""

from __future__ import annotations

import json
import os
from pathlib import Path

from local_runtime.workers import Pool
from tests.helpers import function_spec

HANDLER = """
import logging

log = logging.getLogger("orders.checkout")

def handler(event, context):
    logging.getLogger().info("plain info")
    log.warning("low stock", extra={"sku": "SKU-1"})
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("failed")
    return "done"
"""


def _pool(tmp_path: Path, log_format: str, level: str | None) -> Pool:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    spec = function_spec(code, log_format=log_format, application_log_level=level)
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_LOG_FORMAT": log_format}
    if level:
        env["AWS_LAMBDA_LOG_LEVEL"] = level
    return Pool(spec, env, tmp_path)


def test_text_format_logs_warnings_and_above_with_the_request_id(tmp_path: Path) -> None:
    pool = _pool(tmp_path, "Text", None)
    try:
        invocation = pool.invoke({})
    finally:
        pool.stop()
    lines = [line for line in invocation.logs if line.startswith("[")]
    assert not any("plain info" in line for line in invocation.logs)  # root level WARNING
    level, stamp, request_id, message = lines[0].split("\t", 3)
    assert (level, request_id, message) == ("[WARNING]", invocation.request_id, "low stock")
    assert stamp.endswith("Z") and "T" in stamp
    assert lines[1].startswith("[ERROR]") and lines[1].endswith("\tfailed")
    assert any("ZeroDivisionError" in line for line in invocation.logs)  # the traceback follows


def test_json_format_logs_records_from_the_configured_level(tmp_path: Path) -> None:
    pool = _pool(tmp_path, "JSON", "INFO")
    try:
        invocation = pool.invoke({})
    finally:
        pool.stop()
    records = [json.loads(line) for line in invocation.logs if line.startswith("{")]
    by_message = {r["message"]: r for r in records}
    assert by_message["plain info"]["level"] == "INFO" and by_message["plain info"]["logger"] == "root"
    stock = by_message["low stock"]
    assert (stock["level"], stock["logger"], stock["sku"]) == ("WARNING", "orders.checkout", "SKU-1")
    assert stock["requestId"] == invocation.request_id
    failed = by_message["failed"]
    assert failed["errorType"] == "ZeroDivisionError" and failed["stackTrace"]
