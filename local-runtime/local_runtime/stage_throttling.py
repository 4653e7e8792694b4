"""A REST API stage's method throttling (`MethodSettings` ThrottlingRateLimit/ThrottlingBurstLimit), and
an HTTP API stage's route throttling (`DefaultRouteSettings`, `RouteSettings` by route key).

API Gateway applies a stage's limits per method: every method of the stage has its own token bucket of
`ThrottlingBurstLimit` tokens refilled at `ThrottlingRateLimit` per second, with the default settings
(`ResourcePath` "/*", `HttpMethod` "*", what CDK's `deployOptions` throttling writes) unless a setting
names the method; beyond, 429 "Too Many Requests" (gateway response THROTTLED). Usage plan throttles
come first, then these. https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
(the account's own limit, 10,000 requests per second with a burst of 5,000, is not emulated). An HTTP
API's routes are throttled the same way, each route its own bucket, a route's settings over the stage's
default. https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_runtime.api_keys import Throttle, take_token

ALL = ("/*", "*")  # the stage's default method settings


@dataclass(frozen=True)
class MethodThrottles:
    # (resource path or "/*", HTTP method or "*") -> that setting's (rate, burst), each None where unset
    settings: dict[tuple[str, str], tuple[float | None, int | None]] = field(default_factory=dict)

    def for_method(self, resource_path: str, http_method: str) -> Throttle | None:
        """The method's limits: each from the most specific setting that gives it; None if unthrottled."""
        rate: float | None = None
        burst: int | None = None
        for key in ((resource_path, http_method), (resource_path, "*"), ("/*", http_method), ALL):
            own_rate, own_burst = self.settings.get(key, (None, None))
            rate = own_rate if rate is None else rate
            burst = own_burst if burst is None else burst
        if rate is None and burst is None:
            return None
        if (rate is not None and rate < 0) or (burst is not None and burst < 0):
            return None  # -1: throttling off for the method
        # One without the other, as for usage plans: the burst refills at itself, the rate bursts to itself.
        if rate is None:
            return Throttle(float(burst or 0), int(burst or 0))
        return Throttle(rate, int(max(1, rate)) if burst is None else burst)


def method_throttles(method_settings: list[dict[str, Any]]) -> MethodThrottles:
    """A stage's MethodSettings; a ResourcePath escapes its slashes as ~1 ("/~1items~1{id}")."""
    settings: dict[tuple[str, str], tuple[float | None, int | None]] = {}
    for setting in method_settings:
        path = str(setting.get("ResourcePath", "/*"))
        if path != "/*":
            path = path[1:].replace("~1", "/") or "/"
        settings[(path, str(setting.get("HttpMethod", "*")).upper())] = _limits(setting)
    return MethodThrottles(settings)


def route_throttles(default: dict[str, Any], by_route_key: dict[str, Any]) -> MethodThrottles:
    """An HTTP API stage's DefaultRouteSettings and RouteSettings, looked up as (route key, "*")."""
    settings = {ALL: _limits(default)}
    settings.update({(str(key), "*"): _limits(setting) for key, setting in by_route_key.items()})
    return MethodThrottles(settings)


def _limits(setting: dict[str, Any]) -> tuple[float | None, int | None]:
    rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
    return (None if rate is None else float(rate), None if burst is None else int(burst))


NOT_THROTTLED = MethodThrottles()


class StageMeter:
    """Each (stage, resource path or route key, HTTP method)'s bucket (thread-safe; the clock is
    injectable). Disabled, it admits every request (Options.stage_throttling)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, enabled: bool = True) -> None:
        self._clock = clock
        self._enabled = enabled
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def admit(self, stage: str, resource_path: str, http_method: str, throttle: Throttle | None) -> bool:
        """False when the method's bucket is empty; True when it is not, or the method is unthrottled."""
        if throttle is None or not self._enabled:
            return True
        with self._lock:
            return take_token(self._buckets, (stage, resource_path, http_method), throttle, self._clock())
