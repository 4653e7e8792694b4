"""Inside the moto server: Step Functions executions run in moto's own ASL interpreter
(`moto.stepfunctions.parser`, ported from LocalStack), and every AWS call a state makes (Lambda invoke,
optimized and SDK service integrations) goes through the runtime's IAM gateway, signed as the state
machine's role. So the role's policies decide each task's call, as in AWS, and a Lambda task runs on the
runtime's workers.

The runtime posts the gateway's URL and each role's credentials to `/_local_runtime/state-machines`
(`configure`) when its app has state machines: only then is the interpreter imported (about 1 s).
"""

from __future__ import annotations

import inspect
import json
import math
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

CONFIG_PATH = "/_local_runtime/state-machines"

_lock = threading.Lock()
_gateway: dict[str, Any] = {"url": None, "roles": {}}  # role ARN -> {access_key, secret_key, session_token}
_applied = False


def configure(gateway_url: str, roles: dict[str, dict[str, str]]) -> None:
    """The gateway and role credentials executions call with (a redeploy sends its roles again)."""
    global _applied
    with _lock:
        _gateway["url"], _gateway["roles"] = gateway_url, dict(roles)
        if not _applied:
            _apply()
            _applied = True


def _apply() -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = boto_client.boto_client_for
    for name, function, marker in (
        ("boto_client_for", original, "endpoint_url"),
        (
            "StepFunctionsParserBackend.start_execution",
            StepFunctionsParserBackend.start_execution,
            "exec_name = name",
        ),
    ):
        if marker not in inspect.getsource(function):
            raise RuntimeError(f"moto changed {name}: review local_runtime/moto_states.py (local-runtime/)")
    # The switch moto's server reads per request (POST /moto-api/config sets the same).
    default_user_config["stepfunctions"] = {"execute_state_machine": True}

    start_execution = StepFunctionsParserBackend.start_execution

    def start_with_a_name(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        # "If you don't provide a name for the execution, Step Functions automatically generates a
        # universally unique identifier (UUID)" (StartExecution, API reference); moto keeps None.
        return start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_with_a_name  # type: ignore[method-assign]
    _add_start_sync_execution()
    boto_client.boto_client_for = _client_through_gateway
    for module in list(sys.modules.values()):  # the interpreter's modules imported it by name
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = _client_through_gateway  # type: ignore[attr-defined]


def _add_start_sync_execution() -> None:
    """StartSyncExecution, which moto does not have: an express state machine's execution, answered when
    it ends (at most 5 minutes, express's limit), with its status, output or error
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html)."""
    from moto.core import responses
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    class StateMachineTypeNotSupportedError(AWSError):
        TYPE = "StateMachineTypeNotSupported"
        STATUS = 400

    def start_sync_execution(self: Any) -> Any:
        backend = self.stepfunction_backend
        arn = self._get_param("stateMachineArn")
        if backend.describe_state_machine(arn).type != "EXPRESS":
            raise StateMachineTypeNotSupportedError(
                "This operation is not supported by this type of state machine"
            )
        started = backend.start_execution(
            arn, self._get_param("name"), self._get_param("input", if_none="{}")
        )
        deadline = time.monotonic() + 300
        execution = backend.describe_execution(started.execution_arn)
        while execution.status == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.01)
            execution = backend.describe_execution(started.execution_arn)
        stopped = execution.stop_date or datetime.now(UTC)
        took_ms = (stopped - execution.start_date).total_seconds() * 1000
        answer = {
            "executionArn": execution.execution_arn,
            "stateMachineArn": arn,
            "name": execution.name,
            "startDate": execution.start_date,
            "stopDate": stopped,
            "status": "TIMED_OUT" if execution.status == "RUNNING" else str(execution.status),
            "input": execution.execution_input,
            "inputDetails": {"included": True},
            # Express bills whole 100 ms and at least 64 MB; the memory is not measured here.
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(100, math.ceil(took_ms / 100) * 100),
            },
        }
        if execution.status == "SUCCEEDED":
            output = execution.output
            answer["output"] = output if isinstance(output, str) or output is None else json.dumps(output)
            answer["outputDetails"] = {"included": True}
        for field in ("error", "cause"):
            if getattr(execution, field, None) is not None:
                answer[field] = getattr(execution, field)
        return ActionResult(answer)

    StepFunctionResponse.start_sync_execution = start_sync_execution  # type: ignore[attr-defined]
    cached = getattr(responses.method_names_from_class, "cache_clear", None)
    if cached is not None:  # moto_server caches each class's methods
        cached()


def _client_through_gateway(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's `boto_client_for` (same settings: no retries, the state's timeouts), pointed at the IAM
    gateway with the credentials of the execution's role, or of the role a task's `Credentials` names."""
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    role = getattr(state_credentials, "role_arn", None) or _execution_role()
    credentials = _gateway["roles"].get(role)
    if credentials is None or not _gateway["url"]:
        raise RuntimeError(f"the local runtime issued no credentials for role {role} (not a role of the app)")
    return boto3.client(
        service_name=service,
        region_name=region,
        endpoint_url=_gateway["url"],
        aws_access_key_id=credentials["access_key"],
        aws_secret_access_key=credentials["secret_key"],
        aws_session_token=credentials["session_token"],
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            s3={"addressing_style": "path"},  # `<bucket>.localhost` does not resolve everywhere
        ),
    )


def _execution_role() -> str | None:
    """The role of the execution whose state is calling: every evaluation frame of moto's interpreter
    holds its `env` (also in the threads of Parallel branches and Map iterations)."""
    frame = sys._getframe(2)
    while frame is not None:
        details = getattr(frame.f_locals.get("env"), "aws_execution_details", None)
        if details is not None:
            return str(details.role_arn)
        frame = frame.f_back  # type: ignore[assignment]
    return None
