"""Step Functions state machines: moto stores them and its ASL interpreter runs their executions
(moto_states.py); here each state machine's role gets credentials at the IAM gateway, so every call a
state makes is decided by that role's policies, as in AWS.

A role that does not let `states.amazonaws.com` assume it is refused at deploy, as CreateStateMachine
refuses it in AWS ("Neither the global service principal states.amazonaws.com, nor the regional one is
authorized to assume the provided role").
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from local_runtime import moto_states
from local_runtime.gateway import Gateway
from local_runtime.iam import Policy, trust_allows
from local_runtime.templates import App, TemplateError

SERVICE_PRINCIPAL = "states.amazonaws.com"


def state_machine_roles(app: App, trust_policies: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Role ARN -> names of the state machines that run as it; refuses a role Step Functions cannot assume."""
    roles: dict[str, list[str]] = {}
    for stack, logical_id, resource in app.all_resources("AWS::StepFunctions::StateMachine"):
        role = str(app.resolve(stack, resource.get("Properties", {}).get("RoleArn")))
        where = f"{stack.name}/{logical_id}"
        if role not in trust_policies:
            raise TemplateError(f"{where}: role {role} is not a role of this app")
        if not trust_allows(trust_policies[role], SERVICE_PRINCIPAL):
            raise TemplateError(
                f"{where}: Step Functions cannot assume role {role} (its trust policy does not name "
                f"{SERVICE_PRINCIPAL})"
            )
        roles.setdefault(role, []).append(app.physical_name(stack, logical_id))
    return roles


def let_state_machines_run(
    gateway: Gateway, moto_port: int, roles: dict[str, list[str]], policies: dict[str, Policy]
) -> str:
    """Issue each role's credentials and hand them to moto's interpreter; returns a note for start-up."""
    credentials = {}
    for role in roles:
        access_key, identity = gateway.role_session(
            "states", role, policies.get(role, Policy()), "StepFunctions"
        )
        credentials[role] = {
            "access_key": access_key,
            "secret_key": identity.secret_key,
            "session_token": identity.session_token,
        }
    request = urllib.request.Request(
        f"http://127.0.0.1:{moto_port}{moto_states.CONFIG_PATH}",
        data=json.dumps({"gateway_url": gateway.url, "roles": credentials}).encode(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (our own moto)
            answer.read()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"moto cannot run state machines: {error.read().decode()}") from error
    machines = sorted(name for names in roles.values() for name in names)
    return (
        f"{len(machines)} state machine(s) run by moto's ASL interpreter; each task's AWS calls go through "
        f"the IAM gateway as the state machine's role: {', '.join(machines)}"
    )
