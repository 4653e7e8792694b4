"""API keys for REST methods with `ApiKeyRequired`: the `x-api-key` header must be an enabled
AWS::ApiGateway::ApiKey in a usage plan (AWS::ApiGateway::UsagePlanKey) whose `ApiStages` include the
API's stage, or API Gateway answers 403 Forbidden (gateway response INVALID_API_KEY). A key without a
`Value` gets a generated one, printed at start-up.

The key's usage plan then limits it: its `Throttle` (or an `ApiStages` entry's per-method `Throttle`)
as a token bucket of `BurstLimit` tokens refilled at `RateLimit` per second, 429 "Too Many Requests"
(THROTTLED) when empty; its `Quota` as at most `Limit` requests per UTC day, week (from Sunday) or
month, less `Offset` in the first one, 429 "Limit Exceeded" (QUOTA_EXCEEDED) beyond.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local_runtime.templates import App, Stack


@dataclass(frozen=True)
class Throttle:
    rate: float  # requests per second, refilled
    burst: int  # the bucket's size


@dataclass(frozen=True)
class Quota:
    limit: int
    period: str  # DAY, WEEK or MONTH
    offset: int = 0  # requests subtracted from the limit in the first period


@dataclass(frozen=True)
class UsagePlan:
    plan_id: str
    throttle: Throttle | None = None
    quota: Quota | None = None
    # "/resource/path/METHOD" -> that method's throttle (ApiStages[].Throttle), per stage
    method_throttles: dict[str, dict[str, Throttle]] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    name: str
    value: str
    plan: UsagePlan | None = None


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
        plan_id = str(app.ref(stack, lid))
        plan = _plan(plan_id, props, api_id)
        for api_stage in props.get("ApiStages", []):
            if str(api_stage.get("ApiId")) == api_id:
                by_stage.setdefault(str(api_stage.get("Stage")), []).extend(
                    ApiKey(key.name, key.value, plan) for key in plan_keys.get(plan_id, [])
                )
    return by_stage


def _plan(plan_id: str, props: dict[str, Any], api_id: str) -> UsagePlan:
    quota = props.get("Quota") or {}
    per_method = {
        str(api_stage.get("Stage")): {
            path: throttle
            for path, settings in (api_stage.get("Throttle") or {}).items()
            if (throttle := _throttle(settings)) is not None
        }
        for api_stage in props.get("ApiStages", [])
        if str(api_stage.get("ApiId")) == api_id
    }
    return UsagePlan(
        plan_id,
        throttle=_throttle(props.get("Throttle") or {}),
        quota=Quota(int(quota["Limit"]), str(quota.get("Period", "DAY")), int(quota.get("Offset", 0)))
        if "Limit" in quota
        else None,
        method_throttles=per_method,
    )


def _throttle(settings: dict[str, Any]) -> Throttle | None:
    if "RateLimit" not in settings and "BurstLimit" not in settings:
        return None
    rate = float(settings.get("RateLimit", settings.get("BurstLimit", 0)))
    return Throttle(rate, int(settings.get("BurstLimit", max(1, int(rate)))))


class UsageMeter:
    """Each API key's throttle buckets and quota count (thread-safe; the clock is injectable)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # -> (tokens, at)
        self._counts: dict[tuple[str, str], tuple[str, int]] = {}  # -> (period, requests)
        self._first_period: dict[tuple[str, str], str] = {}

    def admit(self, key: ApiKey, stage: str, resource_path: str, http_method: str) -> str | None:
        """None, or the gateway response type that refuses the request: THROTTLED or QUOTA_EXCEEDED."""
        plan = key.plan
        if plan is None:
            return None
        method = f"{resource_path}/{http_method}"  # as ApiStages' Throttle names it: /pets/GET
        own = plan.method_throttles.get(stage, {}).get(method)
        now = self._clock()
        throttle, scope = (
            (own, method) if own is not None else (plan.throttle, "*")
        )  # own bucket, or the plan's
        holder = (plan.plan_id, key.value)
        with self._lock:
            if throttle is not None and not self._take((*holder, scope), throttle, now):
                return "THROTTLED"
            if plan.quota is not None and not self._count(holder, plan.quota, now):
                return "QUOTA_EXCEEDED"
        return None

    def _take(self, bucket: tuple[str, str, str], throttle: Throttle, now: float) -> bool:
        return take_token(self._buckets, bucket, throttle, now)

    def _count(self, holder: tuple[str, str], quota: Quota, now: float) -> bool:
        period = _period(quota.period, now)
        first = self._first_period.setdefault(holder, period)
        seen_period, used = self._counts.get(holder, (period, 0))
        if seen_period != period:
            used = 0
        allowed = quota.limit - (quota.offset if period == first else 0)
        if used >= allowed:
            self._counts[holder] = (period, used)
            return False
        self._counts[holder] = (period, used + 1)
        return True


def take_token(buckets: dict[Any, tuple[float, float]], bucket: Any, throttle: Throttle, now: float) -> bool:
    """Take a request's token from the bucket (full at first, refilled at the rate); False if it is empty.
    The caller holds the lock that guards `buckets`."""
    tokens, at = buckets.get(bucket, (float(throttle.burst), now))
    tokens = min(float(throttle.burst), tokens + (now - at) * throttle.rate)
    if tokens < 1:
        buckets[bucket] = (tokens, now)
        return False
    buckets[bucket] = (tokens - 1, now)
    return True


def _period(kind: str, now: float) -> str:
    day = datetime.fromtimestamp(now, UTC).date()
    if kind == "MONTH":
        return f"{day.year}-{day.month:02d}"
    if kind == "WEEK":
        return (day - timedelta(days=(day.weekday() + 1) % 7)).isoformat()  # the Sunday it starts on
    return day.isoformat()


def _generated(seed: str) -> str:
    """A stable 40-character key, as long as the ones API Gateway generates."""
    digest = base64.b64encode(hashlib.sha256(seed.encode()).digest() * 2).decode()
    return "".join(c for c in digest if c.isalnum())[:40]
