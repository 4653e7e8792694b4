"""Test suite: wall time of `make test` (the README's test command) on a warm machine, measured once."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run() -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "test"],  # noqa: S607 (make from PATH, as a developer runs it)
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    # pytest's last summary line, e.g. "212 passed, 1 skipped in 140.2s" (make prints after it).
    summaries = re.findall(r"^=+ (.*\d+ (?:passed|failed|error).*) =+$", result.stdout, re.M)
    outcome = summaries[-1] if summaries else "no pytest summary line"
    # -ra (pyproject addopts) lists each failure: keep their ids, a slow machine can make e2e flaky.
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.M)
    return {
        "command": "make test",
        "repetitions": 1,
        "note": "measured once, on a warm machine (venv, node_modules and the layer cache in place)",
        "seconds": round(seconds, 1),
        "exit_code": result.returncode,
        "outcome": outcome,
        "failed_tests": failed,
    }
