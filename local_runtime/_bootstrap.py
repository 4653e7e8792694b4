"""Worker process: imports one function's handler like the Lambda Python runtime, then serves invocations.

Started by local_runtime.workers with `python -I`, so nothing but the paths it is given (the function's
asset, its importable layers) precede the interpreter's own. Requests arrive as JSON lines on stdin,
answers leave as JSON lines on a dedicated pipe; the handler's own stdout/stderr go to its log file.
"""

import importlib
import json
import os
import sys
import time
import traceback


def _error(exc: BaseException) -> dict:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[1:],
    }


class LambdaContext:
    def __init__(self, config: dict, request: dict) -> None:
        self.function_name = config["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = config["function_arn"]
        self.memory_limit_in_mb = int(config["memory_mb"])
        self.aws_request_id = request["request_id"]
        self.log_group_name = config["log_group"]
        self.log_stream_name = config["log_stream"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def main() -> None:
    config = json.loads(os.environ.pop("_LOCAL_RUNTIME_WORKER"))
    out = os.fdopen(config["fd"], "w", buffering=1, encoding="utf-8")
    sys.path[:0] = config["paths"]
    module_name, _, function_name = config["handler"].rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except BaseException as exc:
        error = _error(exc)
        if isinstance(exc, ImportError):
            error["errorType"] = "Runtime.ImportModuleError"
            error["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        elif isinstance(exc, AttributeError):
            error["errorType"] = "Runtime.HandlerNotFound"
        out.write(json.dumps({"type": "init_error", "error": error}) + "\n")
        sys.exit(1)
    out.write(json.dumps({"type": "ready", "init_ms": (time.perf_counter() - started) * 1000}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext(config, request)
        print(f"START RequestId: {request['request_id']} Version: $LATEST", flush=True)
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            traceback.print_exc()
            payload = json.dumps({"type": "error", "error": _error(exc)})
        else:
            try:
                payload = json.dumps({"type": "result", "result": result})
            except (TypeError, ValueError) as exc:
                error = {
                    "errorType": "Runtime.MarshalError",
                    "errorMessage": f"Unable to marshal response: {exc}",
                }
                payload = json.dumps({"type": "error", "error": error})
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(payload + "\n")


if __name__ == "__main__":
    main()
