"""Cold start per function through the local runtime vs a bare boto3 handler making the same AWS calls,
`python -X importtime` of each handler, and the CPU to compile what it imports from its code and layers
(Lambda does that at every cold start; the local workers keep bytecode).

A cold start here is a fresh worker: a new `Pool` for the function (the runtime's own kind of worker
process, environment, role and moto), so the first invocation spawns the interpreter, imports the
handler (the runtime's `init_ms`) and runs it (`duration_ms`). Wall time = process start → first reply.
The bare handler is benchmarks/bare_handlers/<folder>.py run by the same worker code with the same
function identity (so the same IAM policy applies) but without the function's asset and layers.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.stats import median, ratio, run_interleaved, summary
from local_runtime.runtime import Runtime
from local_runtime.workers import FunctionSpec, Pool
from tests.events import (
    api_event,
    cognito_claims,
    eventbridge_event,
    s3_event,
    s3_record,
    scheduled_event,
    sqs_event,
)

BARE_DIR = Path(__file__).resolve().parent / "bare_handlers"
# Construct name → function folder (the bare handler's module).
FUNCTIONS = {
    "UsersApi": "users_api",
    "OrdersApi": "orders_api",
    "OrderProcessor": "order_processor",
    "OrderProjection": "order_projection",
    "UploadsApi": "uploads_api",
    "UploadIndexer": "upload_indexer",
    "DailyReport": "daily_report",
    "FilesApi": "files_api",
}
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")


class Fixtures:
    """Data the functions' events point at: one user, one uploaded object; fresh ids per event."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.user_id = f"bench-{uuid.uuid4().hex[:8]}"
        users_table = runtime.find_function("UsersApi").environment["USERS_TABLE_NAME"]
        runtime.client("dynamodb").put_item(
            TableName=users_table,
            Item={
                "userId": {"S": self.user_id},
                "name": {"S": "Bench"},
                "email": {"S": "bench@example.com"},
                "createdAt": {"S": datetime.now(UTC).isoformat()},
            },
        )
        self.bucket = runtime.find_function("UploadsApi").environment["UPLOADS_BUCKET_NAME"]
        self.key = f"uploads/{self.user_id}/bench.txt"
        runtime.client("s3").put_object(Bucket=self.bucket, Key=self.key, Body=b"benchmark\n")
        # The record upload_indexer keeps for an upload: what GET /files lists.
        runtime.client("dynamodb").put_item(
            TableName=runtime.find_function("FilesApi").environment["FILES_TABLE_NAME"],
            Item={
                "fileKey": {"S": f"uploads/{self.user_id}/{uuid.uuid4()}-bench.txt"},
                "userId": {"S": self.user_id},
                "bucket": {"S": self.bucket},
                "size": {"N": "10"},
                "contentType": {"S": "text/plain"},
                "uploadedAt": {"S": datetime.now(UTC).isoformat()},
                "sequencer": {"S": "0" * 64},
            },
        )
        self._sequence = 0

    def _order(self) -> dict[str, Any]:
        return {
            "orderId": str(uuid.uuid4()),
            "userId": self.user_id,
            "items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 500}],
            "totalCents": 1000,
            "status": "ACCEPTED",
            "createdAt": datetime.now(UTC).isoformat(),
        }

    def event(self, construct: str) -> dict[str, Any]:
        """The function's typical first request, one that succeeds (API requests: as the user, signed in)."""
        claims = cognito_claims(self.user_id)
        if construct == "UsersApi":
            return api_event(
                "GET",
                f"/users/{self.user_id}",
                claims=claims,
                resource="/users/{userId}",
                path_params={"userId": self.user_id},
            )
        if construct == "OrdersApi":
            body = {"items": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 500}]}
            return api_event("POST", "/orders", claims=claims, body=body)
        if construct == "OrderProcessor":
            message = {
                "MessageId": str(uuid.uuid4()),
                "ReceiptHandle": "bench",
                "Body": json.dumps(self._order()),
            }
            return sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:bench")
        if construct == "OrderProjection":
            order = self._order()
            detail = {k: order[k] for k in ("orderId", "userId", "totalCents", "createdAt")}
            return eventbridge_event("orders", "OrderCreated", detail)
        if construct == "UploadsApi":
            body = {"fileName": "a.txt", "contentType": "text/plain", "size": 10}
            return api_event("POST", "/uploads", claims=claims, body=body)
        if construct == "UploadIndexer":
            self._sequence += 1
            record = s3_record(
                "ObjectCreated:Put", self.key, bucket=self.bucket, sequencer=f"{self._sequence:016X}", size=10
            )
            return s3_event(record)
        if construct == "DailyReport":
            return scheduled_event(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if construct == "FilesApi":
            return api_event("GET", "/files", claims=claims)
        raise KeyError(construct)


def bare_spec(spec: FunctionSpec, folder: str) -> FunctionSpec:
    """The same function identity (role, environment, timeout), with the bare handler as its code."""
    return dataclasses.replace(
        spec, code_dir=BARE_DIR, handler=f"{folder}.lambda_handler", layer_dirs=[], skipped_layers=[]
    )


def cold_invoke(runtime: Runtime, spec: FunctionSpec, event: dict[str, Any]) -> dict[str, Any]:
    """One cold start on a fresh worker: wall time (spawn → reply), init and first-invocation time."""
    logs, bytecode = runtime.options.state_dir / "logs", runtime.bytecode_dir
    pool = Pool(spec, runtime._lambda_env(spec), logs, bytecode_dir=bytecode)  # as the runtime's own pools
    try:
        started = time.perf_counter()
        invocation = pool.invoke(event, trigger="bench")
        wall_ms = (time.perf_counter() - started) * 1000
    finally:
        pool.stop()
    return {
        "wall_ms": wall_ms,
        "init_ms": invocation.init_ms or 0.0,
        "invoke_ms": invocation.duration_ms,
        "ok": invocation.ok and _succeeded(invocation.result),
        "error": invocation.error_type,
    }


def _succeeded(result: Any) -> bool:
    """A 4xx is a failed run too: a refused request (e.g. 401) skips the work being measured."""
    return not (isinstance(result, dict) and int(result.get("statusCode", 200)) >= 400)


def _side(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "wall_ms": summary([r["wall_ms"] for r in runs]),
        "init_ms": round(median(r["init_ms"] for r in runs), 1),
        "first_invoke_ms": round(median(r["invoke_ms"] for r in runs), 1),
        "failed": sum(1 for r in runs if not r["ok"]),
        "errors": sorted({r["error"] for r in runs if r["error"]}),
    }


def run(runtime: Runtime, repetitions: int) -> dict[str, Any]:
    fixtures = Fixtures(runtime)
    functions: dict[str, Any] = {}
    for construct, folder in FUNCTIONS.items():
        spec = runtime.find_function(construct)
        bare = bare_spec(spec, folder)

        def measure(which: FunctionSpec, construct: str = construct) -> Callable[[], dict[str, Any]]:
            return lambda: cold_invoke(runtime, which, fixtures.event(construct))

        runs = run_interleaved({"function": measure(spec), "bare": measure(bare)}, repetitions)
        function, bare_side = _side(runs["function"]), _side(runs["bare"])
        functions[construct] = {
            "function": function,
            "bare": bare_side,
            "ratio": round(ratio(function["wall_ms"]["median"], bare_side["wall_ms"]["median"]) or 0, 2),
            "imports": import_times(runtime, spec, repetitions=max(3, repetitions // 2)),
        }
    return {
        "repetitions": repetitions,
        "order": "per function: function/bare interleaved",
        "functions": functions,
    }


def imported_modules(stderr: str) -> list[str]:
    """Every module named in `-X importtime` output, in import order."""
    return [match.group(4) for line in stderr.splitlines() if (match := IMPORT_LINE.match(line))]


def source_files(modules: list[str], roots: list[Path]) -> list[Path]:
    """The .py file of each module found under one of `roots` (a function's code and its layers), the first
    root first as on sys.path; modules found elsewhere (the runtime's boto3, the standard library) are left
    out."""
    files: list[Path] = []
    for module in modules:
        relative = Path(*module.split("."))
        for root in roots:
            candidates = (root / relative.with_suffix(".py"), root / relative / "__init__.py")
            found = next((path for path in candidates if path.is_file()), None)
            if found:
                files.append(found)
                break
    return files


def compile_ms(files: list[Path]) -> float:
    """CPU milliseconds this interpreter takes to compile `files`, as a cold start without bytecode does."""
    sources = [(path.read_bytes(), str(path)) for path in files]
    started = time.process_time()
    for source, name in sources:
        compile(source, name, "exec", dont_inherit=True)
    return (time.process_time() - started) * 1000


def parse_importtime(stderr: str, module: str) -> tuple[float, dict[str, float]]:
    """`-X importtime` output → (the module's cumulative ms, its direct imports' cumulative ms)."""
    children: dict[str, float] = {}
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        _self_us, cumulative_us, indent, name = match.groups()
        depth = len(indent) // 2
        if depth == 1:
            children[name] = children.get(name, 0.0) + int(cumulative_us) / 1000
        elif depth == 0:
            if name == module:
                return int(cumulative_us) / 1000, children
            children = {}
    raise ValueError(f"{module} not found in -X importtime output")


def import_times(runtime: Runtime, spec: FunctionSpec, repetitions: int, top: int = 5) -> dict[str, Any]:
    """Median over runs of the handler's total import time and its 5 costliest direct imports; and what
    Lambda compiles at each cold start: the modules imported from the function's code and layers."""
    module = spec.handler.rpartition(".")[0]
    paths = [str(spec.code_dir), *map(str, spec.layer_dirs)]
    code = f"import sys; sys.path[:0] = {paths!r}; import {module}"
    env = {**runtime._lambda_env(spec), **spec.environment}
    totals: list[float] = []
    per_module: dict[str, list[float]] = {}
    stderr = ""
    for _ in range(repetitions):
        result = subprocess.run(  # noqa: S603 (our interpreter)
            [sys.executable, "-I", "-X", "importtime", "-c", code],
            cwd=spec.code_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        total, children = parse_importtime(result.stderr, module)
        stderr = result.stderr
        totals.append(total)
        for name, ms in children.items():
            per_module.setdefault(name, []).append(ms)
    medians = {name: median(values) for name, values in per_module.items()}
    compiled = source_files(imported_modules(stderr), [spec.code_dir, *layer_roots(spec)])
    costliest = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:top]
    return {
        "total_ms": round(median(totals), 1),
        "top": [{"module": name, "cumulative_ms": round(ms, 1)} for name, ms in costliest],
        "runs": repetitions,
        # Lambda's /var/task and /opt are read-only and the assets carry no bytecode (see the README's
        # dependency layer section): each cold start compiles these. Compiled here by Python 3.11.
        "compiled_in_lambda": {
            "modules": len(compiled),
            "cpu_ms": round(median(compile_ms(compiled) for _ in range(repetitions)), 1),
        },
    }


def layer_roots(spec: FunctionSpec) -> list[Path]:
    """Where Lambda finds the function's layer code: the layers the workers import, and those they take
    from this interpreter's site-packages instead (built for arm64; their Python sources are the same)."""
    return [*spec.layer_dirs, *(python_dir for python_dir, _ in spec.skipped_layers)]
