"""Worker process: imports one function's handler like the Lambda Python runtime, then serves invocations.

Started by local_runtime.workers with `python -I`, so nothing but the paths it is given (the function's
asset, its importable layers) precede the interpreter's own. Requests arrive as JSON lines on stdin,
answers leave as JSON lines on a dedicated pipe; the handler's own stdout/stderr go to its log file.
"""

import importlib
import importlib.machinery
import io
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, TextIO, cast

END_OF_OUTPUT = "\x1e\n"  # ASCII record separator: never part of a log line
# Lambda's level order; Python's names map onto it. A record without a valid "level" counts as INFO.
# The process's own stdout (the runtime reads it), whatever sys.stdout becomes.
_STDOUT = cast(TextIO, sys.__stdout__)
_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4, "FATAL": 5, "CRITICAL": 5}


def _level_of(line: str) -> int:
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return _LEVELS["INFO"]
        if isinstance(record, dict):
            return _LEVELS.get(str(record.get("level", "")).upper(), _LEVELS["INFO"])
    return _LEVELS["INFO"]


class _LevelFilter(io.TextIOBase):
    """stdout/stderr as Lambda ships them with JSON logs: each line below the minimum level is dropped."""

    def __init__(self, stream, minimum: str) -> None:
        self._stream = stream
        self._minimum = _LEVELS[minimum]
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if _level_of(line) >= self._minimum:
                self._stream.write(line + "\n")
        return len(text)

    def end_of_invocation(self) -> None:
        if self._pending:
            self.write("\n")

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it a plain attribute
        return self._stream.encoding


def _system_log(line: str, levels: dict | None) -> None:
    """A record of the runtime itself (START...): INFO, filtered at the system log level with JSON logs."""
    if levels is None or _LEVELS["INFO"] >= _LEVELS[levels["system"]]:
        _STDOUT.write(line + "\n")
        _STDOUT.flush()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _uncaught(exc: BaseException, levels: dict | None) -> None:
    """An exception the handler raised: a traceback, or with JSON logs an ERROR record (as Lambda)."""
    if levels is None:
        traceback.print_exc()
        return
    error = _error(exc)
    record = {"timestamp": _now(), "level": "ERROR", "message": error["errorMessage"], **error}
    sys.stdout.write(json.dumps(record) + "\n")


def _error(exc: BaseException) -> dict:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[1:],
    }


# The request being handled, for the root logger's records (Lambda's runtime keeps the same global).
_CURRENT_REQUEST = {"id": None}
# LogRecord attributes that are not the caller's `extra` fields.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "aws_request_id",
}


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _CURRENT_REQUEST["id"]
        return True


class _JsonRecord(logging.Formatter):
    """A record as Lambda's JSON log format writes it (timestamp, level, message, logger, requestId,
    the exception's errorType/errorMessage/stackTrace, and `extra` fields)."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        result = {
            "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None),
        }
        if record.exc_info and record.exc_info[0] is not None:
            result["errorType"] = record.exc_info[0].__name__
            result["errorMessage"] = str(record.exc_info[1])
            result["stackTrace"] = traceback.format_tb(record.exc_info[2])
            result["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        result.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and k not in result)
        return json.dumps({k: v for k, v in result.items() if v is not None}, default=str) + "\n"


def _root_logging(json_format: bool) -> None:
    """The handler Lambda's Python runtime puts on the root logger before the handler is imported: plain
    `logging` output reaches the function's log. The root level is AWS_LAMBDA_LOG_LEVEL when set (JSON
    logs), else Python's WARNING (awslambdaric's bootstrap._setup_logging)."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""  # each format ends its line itself
    if json_format:
        handler.setFormatter(_JsonRecord())
    else:
        text = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
        handler.setFormatter(logging.Formatter(text, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestId())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = "DEBUG" if level == "TRACE" else level
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    root.addHandler(handler)


class LambdaContext:
    def __init__(self, config: dict, request: dict) -> None:
        self.function_name = config["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = request.get("invoked_function_arn", config["function_arn"])
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


class _HostPackages:
    """Finds the listed top-level modules and distributions in the host's site-packages, after the
    function's own paths (as Lambda's /var/runtime comes after /var/task and /opt): the worker starts
    without site-packages, so nothing else installed there can be imported."""

    def __init__(self, modules: list[str], distributions: list[str], paths: list[str]) -> None:
        self._modules = frozenset(modules)
        self._distributions = frozenset(distributions)
        self._paths = paths

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is not None or name not in self._modules:
            return None  # a submodule is found on its package's own __path__
        return importlib.machinery.PathFinder.find_spec(name, self._paths)

    def find_distributions(self, context: object = None) -> Iterator[Any]:
        """importlib.metadata's lookups (e.g. pydantic asks for email-validator's version, and lists all
        distributions for its plugins): each allowed one is looked up by name, as the finder does."""
        from importlib.metadata import DistributionFinder, MetadataPathFinder

        name = getattr(context, "name", None)
        for wanted in self._distributions if name is None else [name]:
            if _distribution_key(wanted) in self._distributions:
                lookup = DistributionFinder.Context(name=wanted, path=self._paths)
                yield from MetadataPathFinder.find_distributions(lookup)


def _distribution_key(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def main() -> None:
    config = json.loads(os.environ.pop("_LOCAL_RUNTIME_WORKER"))
    out = os.fdopen(config["fd"], "w", buffering=1, encoding="utf-8")
    levels = config.get("log_levels")
    if levels is not None:
        sys.stdout = _LevelFilter(sys.stdout, levels["application"])
        sys.stderr = _LevelFilter(sys.stderr, levels["application"])
    sys.path[:0] = config["paths"]
    modules, distributions = config["host_packages"]
    sys.meta_path.append(_HostPackages(modules, distributions, config["host_paths"]))
    if config["pycache_prefix"]:  # not PYTHONPYCACHEPREFIX: isolated (-I), and the environment is Lambda's
        sys.pycache_prefix = config["pycache_prefix"]
    _root_logging(os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON")
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
        _CURRENT_REQUEST["id"] = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext(config, request)
        _system_log(f"START RequestId: {request['request_id']} Version: $LATEST", levels)
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            _uncaught(exc, levels)
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
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _LevelFilter):
                stream.end_of_invocation()
            stream.flush()
        # Everything this invocation printed is in the pipe before the marker: the runtime attributes
        # the lines up to it to this request (the console's logs per invocation).
        _STDOUT.write(END_OF_OUTPUT)
        _STDOUT.flush()
        out.write(payload + "\n")


if __name__ == "__main__":
    main()
