"""Lambda's log-level filtering, reproduced by the workers: with JSON logs, a line below the function's
application log level (INFO when unset) never reaches the log; text logs are not filtered
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from local_runtime.workers import Pool
from tests.helpers import function_spec

HANDLER = """
import json, sys

def handler(event, context):
    for level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        print(json.dumps({"level": level, "message": f"{level.lower()} record"}))
    print("a plain line")
    print(json.dumps({"message": "a record without a level"}), file=sys.stderr)
    if event.get("fail"):
        raise ValueError("the handler failed")
    return {"ok": True}
"""


def run(tmp_path: Path, event: dict, **logging: str | None) -> str:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "handler.py").write_text(textwrap.dedent(HANDLER))
    log_format = logging.pop("log_format", None) or "JSON"
    spec = function_spec(code, timeout_s=10, log_format=log_format, **logging)
    pool = Pool(spec, {"PATH": os.environ["PATH"]}, tmp_path)
    try:
        pool.invoke(event)
    finally:
        pool.stop()
    return pool.log_path.read_text()


def test_json_logs_without_a_level_drop_debug(tmp_path):
    log = run(tmp_path, {})
    assert "debug record" not in log
    for kept in ("info record", "warning record", "error record", "a plain line", "without a level"):
        assert kept in log
    assert "START RequestId" in log and "REPORT RequestId" in log


def test_the_application_log_level_debug_keeps_everything(tmp_path):
    log = run(tmp_path, {}, application_log_level="DEBUG")
    assert "debug record" in log and "info record" in log


def test_warn_keeps_warnings_errors_and_the_uncaught_exception_as_an_error_record(tmp_path):
    log = run(tmp_path, {"fail": True}, application_log_level="WARN", system_log_level="WARN")
    for dropped in ("debug record", "info record", "a plain line", "without a level", "START RequestId"):
        assert dropped not in log
    assert "warning record" in log and "error record" in log
    assert '"level": "ERROR", "message": "the handler failed"' in log
    assert "REPORT RequestId" not in log  # platform records are INFO


@pytest.mark.parametrize("level", [None, "ERROR"])
def test_text_logs_are_not_filtered(tmp_path, level):
    log = run(tmp_path, {"fail": True}, log_format="Text", application_log_level=level)
    assert "debug record" in log and "a plain line" in log
    assert "Traceback (most recent call last)" in log and "START RequestId" in log
