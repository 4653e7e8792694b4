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
    tail = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    outcome = re.sub(r"=+", "", tail).strip()
    return {
        "command": "make test",
        "repetitions": 1,
        "note": "measured once, on a warm machine (venv, node_modules and the layer cache in place)",
        "seconds": round(seconds, 1),
        "exit_code": result.returncode,
        "outcome": outcome,
    }
