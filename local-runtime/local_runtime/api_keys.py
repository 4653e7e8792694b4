"""API keys for REST methods with `ApiKeyRequired`: the `x-api-key` header must be an enabled
AWS::ApiGateway::ApiKey in a usage plan (AWS::ApiGateway::UsagePlanKey) whose `ApiStages` include the
API's stage, or API Gateway answers 403 Forbidden (gateway response INVALID_API_KEY). A key without a
`Value` gets a generated one, printed at start-up. Usage plans' throttling and quotas are not applied.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from local_runtime.templates import App, Stack


@dataclass(frozen=True)
class ApiKey:
    name: str
    value: str


def stage_keys(app: App, stack: Stack, api_lid: str) -> dict[str, list[ApiKey]]:
    """The keys a request to each stage of the API may use."""
    keys: dict[str, ApiKey] = {}  # by the value a Ref to the key resolves to
    for lid, resource in stack.of_type("AWS::ApiGateway::ApiKey").items():
        props = app.resolve(stack, resource.get("Properties", {}))
        if str(props.get("Enabled", False)).lower() != "true":  # CloudFormation's default: disabled
            continue
        value = str(props.get("Value") or _generated(f"{stack.name}/{lid}"))
        keys[str(app.ref(stack, lid))] = ApiKey(str(props.get("Name", lid)), value)
    plan_keys: dict[str, list[ApiKey]] = {}
    for resource in stack.of_type("AWS::ApiGateway::UsagePlanKey").values():
        props = app.resolve(stack, resource.get("Properties", {}))
        if str(props.get("KeyId")) in keys:
            plan_keys.setdefault(str(props.get("UsagePlanId")), []).append(keys[str(props["KeyId"])])
    api_id = str(app.ref(stack, api_lid))
    by_stage: dict[str, list[ApiKey]] = {}
    for lid, resource in stack.of_type("AWS::ApiGateway::UsagePlan").items():
        props = app.resolve(stack, resource.get("Properties", {}))
        for api_stage in props.get("ApiStages", []):
            if str(api_stage.get("ApiId")) == api_id:
                by_stage.setdefault(str(api_stage.get("Stage")), []).extend(
                    plan_keys.get(str(app.ref(stack, lid)), [])
                )
    return by_stage


def _generated(seed: str) -> str:
    """A stable 40-character key, as long as the ones API Gateway generates."""
    digest = base64.b64encode(hashlib.sha256(seed.encode()).digest() * 2).decode()
    return "".join(c for c in digest if c.isalnum())[:40]
