"""API Gateway HTTP APIs (v2) from the template: routes and the `$default` route and stage, Lambda proxy
integrations with payload format 2.0 or 1.0, JWT and Lambda (REQUEST) authorizers, the API's CORS
configuration. Errors are HTTP APIs' own: {"message": "Not Found"} 404, "Unauthorized" 401, "Forbidden"
403, "Internal Server Error" 500 (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api.html).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local_runtime.authorizer import UnauthorizedError
from local_runtime.http_server import LocalServer, respond
from local_runtime.iam import AwsRequest
from local_runtime.iam_auth import IamAuthorizer
from local_runtime.lambda_authorizer import AuthorizerDeniedError
from local_runtime.permissions import arn_like, execute_api_arn
from local_runtime.stage_throttling import NOT_THROTTLED, MethodThrottles, StageMeter, route_throttles
from local_runtime.templates import App
from local_runtime.workers import Invocation

log = logging.getLogger("local_runtime.http_api")
_FUNCTION_ARN = re.compile(r"arn:[^:]+:lambda:[^:]+:[^:]+:function:[^/:]+")


@dataclass
class HttpAuthorizer:
    logical_id: str
    authorizer_id: str
    kind: str  # "JWT" | "REQUEST"
    identity_sources: list[str]  # e.g. "$request.header.Authorization"
    issuer: str = ""
    audiences: list[str] = field(default_factory=list)
    function_arn: str | None = None
    payload_version: str = "2.0"
    simple_responses: bool = False
    ttl_s: int = 0
    _cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class HttpRoute:
    method: str  # GET ... or ANY; "$default" routes have method "ANY" and path None
    path: str | None
    route_key: str
    function_arn: str | None
    payload_version: str = "2.0"
    authorizer: HttpAuthorizer | None = None
    scopes: list[str] = field(default_factory=list)
    iam_auth: bool = False  # AuthorizationType AWS_IAM: a SigV4-signed caller allowed execute-api:Invoke


@dataclass
class HttpApi:
    logical_id: str
    stack: str
    api_id: str
    name: str
    stage: str  # "$default": no path prefix
    routes: list[HttpRoute]
    cors: dict[str, Any] | None = None
    function_url_auth: str | None = None  # a Lambda function URL (AuthType NONE | AWS_IAM), not an API
    throttles: MethodThrottles = NOT_THROTTLED  # the stage's route throttling

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The most specific route: literal segments over variables over a greedy variable, a method over
        ANY; `$default` when nothing else matches."""
        best: tuple[tuple[int, ...], HttpRoute, dict[str, str]] | None = None
        segments = [s for s in path.split("/") if s]
        for route in self.routes:
            if route.path is None or route.method not in (method, "ANY"):
                continue
            found = _match_path(route.path, segments)
            if found is None:
                continue
            score = (*found[0], 0 if route.method == "ANY" else 1)
            if best is None or score > best[0]:
                best = (score, route, found[1])
        if best is not None:
            return best[1], best[2]
        default = next((r for r in self.routes if r.path is None), None)
        return (default, {}) if default else None


def _match_path(pattern: str, segments: list[str]) -> tuple[list[int], dict[str, str]] | None:
    parts = [p for p in pattern.split("/") if p]
    params: dict[str, str] = {}
    score: list[int] = []
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if index >= len(segments):
                return None
            params[part[1:-2]] = "/".join(segments[index:])
            return [*score, 0], params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segments[index]
            score.append(1)
        elif part == segments[index]:
            score.append(2)
        else:
            return None
    return (score, params) if len(parts) == len(segments) else None


def http_apis(app: App) -> list[HttpApi]:
    apis = []
    for stack, logical_id, resource in app.all_resources("AWS::ApiGatewayV2::Api"):
        props = app.resolve(stack, resource.get("Properties", {}))
        if str(props.get("ProtocolType", "HTTP")).upper() != "HTTP":
            continue
        api_id = str(app.ref(stack, logical_id))

        def of_api(rtype: str, stack: Any = stack, api_id: str = api_id) -> list[tuple[str, dict[str, Any]]]:
            return api_parts(app, stack, api_id, rtype)

        integrations = {str(app.ref(stack, lid)): p for lid, p in of_api("AWS::ApiGatewayV2::Integration")}
        authorizers = {
            str(app.ref(stack, lid)): _authorizer(lid, str(app.ref(stack, lid)), p)
            for lid, p in of_api("AWS::ApiGatewayV2::Authorizer")
        }
        stage_props = [p for _lid, p in of_api("AWS::ApiGatewayV2::Stage")]
        stages = [str(p.get("StageName", "$default")) for p in stage_props]
        routes = []
        for _lid, p in of_api("AWS::ApiGatewayV2::Route"):
            key = str(p["RouteKey"])
            method, _, path = key.partition(" ")
            target = str(p.get("Target", "")).removeprefix("integrations/")
            integration = integrations.get(target, {})
            match = _FUNCTION_ARN.search(str(integration.get("IntegrationUri", "")))
            auth_type = str(p.get("AuthorizationType", "NONE")).upper()
            routes.append(
                HttpRoute(
                    method="ANY" if key == "$default" else method.upper(),
                    path=None if key == "$default" else path,
                    route_key=key,
                    function_arn=match.group(0) if match else None,
                    payload_version=str(integration.get("PayloadFormatVersion", "2.0")),
                    authorizer=authorizers.get(str(p.get("AuthorizerId"))) if auth_type != "NONE" else None,
                    scopes=[str(s) for s in p.get("AuthorizationScopes", [])],
                    iam_auth=auth_type == "AWS_IAM",
                )
            )
        apis.append(
            HttpApi(
                logical_id=logical_id,
                stack=stack.name,
                api_id=api_id,
                name=str(props.get("Name", logical_id)),
                stage=stages[0] if stages else "$default",
                routes=routes,
                cors=props.get("CorsConfiguration"),
                throttles=_stage_throttles(stage_props[0]) if stage_props else NOT_THROTTLED,
            )
        )
    return apis


def _stage_throttles(stage: dict[str, Any]) -> MethodThrottles:
    return route_throttles(stage.get("DefaultRouteSettings") or {}, stage.get("RouteSettings") or {})


def api_parts(app: App, stack: Any, api_id: str, rtype: str) -> list[tuple[str, dict[str, Any]]]:
    """(logical id, resolved properties) of the `rtype` resources (routes, integrations, stages...) of
    the API Gateway v2 API `api_id` in `stack`."""
    found = []
    for other, lid, resource in app.all_resources(rtype):
        props = app.resolve(other, resource.get("Properties", {}))
        if other is stack and str(props.get("ApiId")) == api_id:
            found.append((lid, props))
    return found


def function_urls(app: App) -> list[HttpApi]:
    """Lambda function URLs: one $default route to the function, payload 2.0, the URL's CORS settings."""
    urls = []
    for stack, logical_id, resource in app.all_resources("AWS::Lambda::Url"):
        props = app.resolve(stack, resource.get("Properties", {}))
        target = str(props["TargetFunctionArn"])
        match = _FUNCTION_ARN.search(target)
        function = match.group(0) if match else app.arn("lambda", f"function:{target}")
        url_id = hashlib.sha256(f"{stack.name}/{logical_id}".encode()).hexdigest()[:32]
        urls.append(
            HttpApi(
                logical_id=logical_id,
                stack=stack.name,
                api_id=url_id,
                name=f"{function.rsplit(':', 1)[-1]} function URL",
                stage="$default",
                routes=[HttpRoute("ANY", None, "$default", function, "2.0")],
                cors=props.get("Cors"),
                function_url_auth=str(props.get("AuthType", "AWS_IAM")),
            )
        )
    return urls


def _authorizer(logical_id: str, authorizer_id: str, props: dict[str, Any]) -> HttpAuthorizer:
    jwt = props.get("JwtConfiguration", {})
    match = _FUNCTION_ARN.search(str(props.get("AuthorizerUri", "")))
    return HttpAuthorizer(
        logical_id=logical_id,
        authorizer_id=authorizer_id,
        kind=str(props.get("AuthorizerType", "JWT")).upper(),
        identity_sources=[str(s) for s in props.get("IdentitySource", ["$request.header.Authorization"])],
        issuer=str(jwt.get("Issuer", "")),
        audiences=[str(a) for a in jwt.get("Audience", [])],
        function_arn=match.group(0) if match else None,
        payload_version=str(props.get("AuthorizerPayloadFormatVersion", "2.0")),
        simple_responses=str(props.get("EnableSimpleResponses", False)).lower() == "true",
        ttl_s=int(props.get("AuthorizerResultTtlInSeconds", 0)),
    )


Invoke = Callable[[str, Any, str], Invocation]
VerifyJwt = Callable[[str, str, list[str], list[str]], dict[str, Any]]  # token, issuer, audiences, scopes


class HttpApiServer:
    def __init__(
        self,
        api: HttpApi,
        invoke: Invoke,
        account: str,
        region: str,
        verify_jwt: VerifyJwt,
        may_invoke: Callable[[str, str], bool],
        port: int = 0,
        may_invoke_url: Callable[[str, str], bool] | None = None,
        iam_authorizer: IamAuthorizer | None = None,
        stage_throttling: bool = True,
    ) -> None:
        self._invoke, self.account, self.region = invoke, account, region
        self._iam_authorizer = iam_authorizer  # AWS_IAM routes and function URLs
        self._verify_jwt, self._may_invoke = verify_jwt, may_invoke
        self._may_invoke_url = may_invoke_url  # (function ARN, AuthType) -> a function URL may be called
        self._server = LocalServer(self.handle, port=port, name=f"http-api-{api.name}")
        self.port = self._server.port
        self.swagger_url: str | None = None
        self._lock = threading.Lock()
        self._route_limits = StageMeter(enabled=stage_throttling)  # the stage's route throttling
        self.replace(api)

    def replace(self, api: HttpApi) -> None:
        self.api = api
        prefix = "" if api.stage == "$default" else f"{api.stage}/"
        self.base_url = f"http://localhost:{self.port}/{prefix}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    # ------------------------------------------------------------------ requests
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        path = parts.path
        method = handler.command.upper()
        headers = {k.lower(): v for k, v in handler.headers.items()}
        cors = self._cors_headers(headers.get("origin"))
        if self.api.stage != "$default":
            prefix = f"/{self.api.stage}"
            if path != prefix and not path.startswith(prefix + "/"):
                return self._send(handler, 404, {"message": "Not Found"}, cors)
            path = path[len(prefix) :] or "/"
        if method == "OPTIONS" and self.api.cors and "access-control-request-method" in headers:
            return self._preflight(handler, headers)  # answered by API Gateway, whatever the routes
        matched = self.api.match(method, path)
        if matched is None:
            return self._send(handler, 404, {"message": "Not Found"}, cors)
        route, params = matched
        function_arn = route.function_arn
        if function_arn is None:
            return self._send(handler, 404, {"message": "Not Found"}, cors)
        request_id = str(uuid.uuid4())
        context = self._context(route, method, path, headers, handler.client_address[0], request_id)
        try:
            if route.iam_auth or self.api.function_url_auth == "AWS_IAM":
                context["authorizer"] = {
                    "iam": self._iam_authorize(handler, headers, body, method, path, route)
                }
            else:
                context["authorizer"] = self._authorize(route, headers, parts.query, path, context)
        except UnauthorizedError as error:
            log.info("%s %s: 401 (%s)", method, path, error.reason)
            return self._send(handler, 401, {"message": "Unauthorized"}, cors)
        except PermissionError as error:
            log.info("%s %s: 403 (%s)", method, path, error)
            key = "Message" if self.api.function_url_auth is not None else "message"  # Lambda's or API GW's
            return self._send(handler, 403, {key: "Forbidden"}, cors)
        if self.api.function_url_auth is not None:
            return self._function_url(handler, route, method, path, parts.query, headers, body, context, cors)
        throttle = self.api.throttles.for_method(route.route_key, "*")
        if not self._route_limits.admit(self.api.stage, route.route_key, "*", throttle):
            log.warning("%s %s: 429 Too Many Requests (route %s throttling)", method, path, route.route_key)
            return self._send(handler, 429, {"message": "Too Many Requests"}, cors)
        source = execute_api_arn(
            self.region, self.account, self.api.api_id, self.api.stage, method, route.path or ""
        )
        if not self._may_invoke(function_arn, source):
            log.error(
                "%s: no AWS::Lambda::Permission lets API Gateway invoke %s",
                route.route_key,
                function_arn,
            )
            return self._send(handler, 500, {"message": "Internal Server Error"}, cors)
        event = (_event_v2 if route.payload_version == "2.0" else _event_v1)(
            route, method, path, parts.query, headers, body, params, context
        )
        invocation = self._invoke(function_arn, event, f"http-api {route.route_key}")
        if not invocation.ok:
            return self._send(handler, 500, {"message": "Internal Server Error"}, cors)
        status, response_headers, payload, cookies = _response(invocation.result, route.payload_version)
        headers_out = {**cors, **response_headers, "apigw-requestid": request_id}
        self._send(handler, status, payload, headers_out, cookies)
        return None

    def _function_url(
        self,
        handler: BaseHTTPRequestHandler,
        route: HttpRoute,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        context: dict[str, Any],
        cors: dict[str, str],
    ) -> None:
        """A function URL: its resource policy (InvokeFunctionUrl), SigV4 for AWS_IAM, then the function;
        Lambda's own answers are {"Message": ...} (lambda/latest/dg/urls-invocation.html)."""
        assert route.function_arn is not None
        auth = str(self.api.function_url_auth)  # AWS_IAM was checked with the route's authorization
        allowed = self._may_invoke_url is not None and self._may_invoke_url(route.function_arn, auth)
        if auth == "NONE" and not allowed:
            log.info("%s %s: 403 (function URL NONE without its InvokeFunctionUrl permission)", method, path)
            return self._send(handler, 403, {"Message": "Forbidden"}, cors)
        context["accountId"] = "anonymous" if auth == "NONE" else self.account
        event = _event_v2(route, method, path, query, headers, body, {}, context)
        invocation = self._invoke(route.function_arn, event, f"function URL {method} {path}")
        if not invocation.ok:
            return self._send(handler, 502, {"Message": "Internal Server Error"}, cors)
        status, response_headers, payload, cookies = _response(invocation.result, "2.0")
        self._send(handler, status, payload, {**cors, **response_headers}, cookies)
        return None

    def _context(
        self,
        route: HttpRoute,
        method: str,
        path: str,
        headers: dict[str, str],
        source_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "accountId": self.account,
            "apiId": self.api.api_id,
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": headers.get("host", "localhost").split(".")[0].split(":")[0],
            "http": {
                "method": method,
                "path": path if self.api.stage == "$default" else f"/{self.api.stage}{path}",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": self.api.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }

    # ------------------------------------------------------------------ authorizers
    def _iam_authorize(
        self,
        handler: BaseHTTPRequestHandler,
        headers: dict[str, str],
        body: bytes,
        method: str,
        path: str,
        route: HttpRoute,
    ) -> dict[str, Any]:
        """AWS_IAM: a route's execute-api:Invoke, or a function URL's lambda:InvokeFunctionUrl (iam_auth.py);
        a refusal is HTTP APIs' and Lambda's 403 Forbidden."""
        if self._iam_authorizer is None:
            raise PermissionError("AWS_IAM is not checked without the IAM gateway")
        request = AwsRequest(handler.command, handler.path, headers, body)
        try:
            if self.api.function_url_auth is not None:
                assert route.function_arn is not None
                identity = self._iam_authorizer.authorize(
                    request, route.function_arn, action="lambda:InvokeFunctionUrl", service="lambda"
                )
            else:
                arn = execute_api_arn(
                    self.region, self.account, self.api.api_id, self.api.stage, method, path
                )
                identity = self._iam_authorizer.authorize(request, arn)
        except AuthorizerDeniedError as denied:
            raise PermissionError(f"AWS_IAM: {denied.reason}") from denied
        return {
            "accessKey": identity.get("accessKey"),
            "accountId": identity.get("accountId"),
            "callerId": identity.get("caller"),
            "principalOrgId": None,
            "userArn": identity.get("userArn"),
            "userId": identity.get("user"),
        }

    def _authorize(
        self, route: HttpRoute, headers: dict[str, str], query: str, path: str, context: dict[str, Any]
    ) -> dict[str, Any] | None:
        authorizer = route.authorizer
        if authorizer is None:
            return None
        sources = [_identity(source, headers, query) for source in authorizer.identity_sources]
        if any(value is None for value in sources):
            raise UnauthorizedError(reason="an identity source is missing")
        if authorizer.kind == "JWT":
            token = str(sources[0])
            token = token[7:].strip() if token[:7].lower() == "bearer " else token
            claims = self._verify_jwt(token, authorizer.issuer, authorizer.audiences, route.scopes)
            rendered = {k: _claim(v) for k, v in claims.items()}
            scopes = str(claims.get("scope", "")).split() or None
            return {"jwt": {"claims": rendered, "scopes": scopes}}
        return self._lambda_authorizer(
            authorizer, route, [str(s) for s in sources], headers, query, path, context
        )

    def _lambda_authorizer(
        self,
        authorizer: HttpAuthorizer,
        route: HttpRoute,
        sources: list[str],
        headers: dict[str, str],
        query: str,
        path: str,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        route_arn = execute_api_arn(
            self.region, self.account, self.api.api_id, self.api.stage, context["http"]["method"], path
        )
        key = (route.route_key, *sources)
        with self._lock:
            cached = authorizer._cache.get(key)
        if cached and cached[0] > time.monotonic():
            answer = cached[1]
        else:
            function = authorizer.function_arn
            api_arn = f"arn:aws:execute-api:{self.region}:{self.account}:{self.api.api_id}"
            source = f"{api_arn}/authorizers/{authorizer.authorizer_id}"
            if function is None or not self._may_invoke(function, source):
                raise UnauthorizedError(reason=f"authorizer {authorizer.logical_id} cannot be invoked")
            event = {
                "version": authorizer.payload_version,
                "type": "REQUEST",
                "routeArn": route_arn,
                "identitySource": sources,
                "routeKey": route.route_key,
                "rawPath": context["http"]["path"],
                "rawQueryString": query,
                "headers": headers,
                "queryStringParameters": dict(parse_qsl(query)) or None,
                "requestContext": context,
            }
            invocation = self._invoke(function, event, f"http-api authorizer {authorizer.logical_id}")
            if not invocation.ok or not isinstance(invocation.result, dict):
                raise UnauthorizedError(reason=f"authorizer failed: {invocation.error}")
            answer = invocation.result
            if authorizer.ttl_s > 0:
                with self._lock:
                    authorizer._cache[key] = (time.monotonic() + authorizer.ttl_s, answer)
        if authorizer.simple_responses:
            if answer.get("isAuthorized") is not True:
                raise PermissionError("the authorizer answered isAuthorized false")
        elif not _policy_allows(answer.get("policyDocument", {}), route_arn):
            raise PermissionError("the authorizer's policy does not allow this route")
        return {"lambda": answer.get("context") or {}}

    # ------------------------------------------------------------------ CORS
    def _allowed_origin(self, origin: str | None) -> str | None:
        allowed = [str(o) for o in (self.api.cors or {}).get("AllowOrigins", [])]
        if origin is None or not allowed:
            return None
        return "*" if "*" in allowed else (origin if origin in allowed else None)

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self._allowed_origin(origin)
        if allowed is None or not self.api.cors:
            return {}
        headers = {"access-control-allow-origin": allowed}
        if self.api.cors.get("ExposeHeaders"):
            headers["access-control-expose-headers"] = ",".join(self.api.cors["ExposeHeaders"])
        if str(self.api.cors.get("AllowCredentials", "")).lower() == "true":
            headers["access-control-allow-credentials"] = "true"
        return headers

    def _preflight(self, handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        cors = self.api.cors or {}
        allowed = self._allowed_origin(headers.get("origin"))
        methods = [str(m).upper() for m in cors.get("AllowMethods", [])]
        wanted = headers.get("access-control-request-method", "").upper()
        response: dict[str, str] = {}
        if allowed and (not methods or "*" in methods or wanted in methods):
            response = self._cors_headers(headers.get("origin"))
            response["access-control-allow-methods"] = ",".join(methods or [wanted])
            if cors.get("AllowHeaders"):
                response["access-control-allow-headers"] = ",".join(cors["AllowHeaders"])
            if cors.get("MaxAge") is not None:
                response["access-control-max-age"] = str(cors["MaxAge"])
        self._send(handler, 204, None, response)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str],
        cookies: list[str] | None = None,
    ) -> None:
        respond(handler, status, headers, body, cookies, json_type="content-type")


def _identity(source: str, headers: dict[str, str], query: str) -> str | None:
    if source.startswith("$request.header."):
        return headers.get(source.removeprefix("$request.header.").lower())
    if source.startswith("$request.querystring."):
        return dict(parse_qsl(query)).get(source.removeprefix("$request.querystring."))
    return None


def _claim(value: Any) -> str:
    """HTTP API JWT authorizers hand claims over as strings; lists as "[a b]"."""
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_allows(document: dict[str, Any], route_arn: str) -> bool:
    """An authorizer's IAM policy: an Allow of the route's ARN and no Deny (execute-api:Invoke)."""
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]

    def covers(statement: dict[str, Any]) -> bool:
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        return any(arn_like(str(resource)).match(route_arn) for resource in resources)

    if any(s.get("Effect") == "Deny" and covers(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and covers(s) for s in statements)


def _split_query(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {k: ",".join(v) for k, v in multi.items()}, multi


def _body(body: bytes, headers: dict[str, str]) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True
    kind = headers.get("content-type", "")
    textual = not kind or kind.startswith("text/") or "json" in kind or "xml" in kind or "form" in kind
    return (text, False) if textual else (base64.b64encode(body).decode(), True)


def _event_v2(
    route: HttpRoute,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    params: dict[str, str],
    context: dict[str, Any],
) -> dict[str, Any]:
    single, _multi = _split_query(query)
    cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
    text, encoded = _body(body, headers)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": context["http"]["path"],
        "rawQueryString": query,
        "headers": {k: v for k, v in headers.items() if k != "cookie"},
        "requestContext": {k: v for k, v in context.items() if v is not None},
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if single:
        event["queryStringParameters"] = single
    if params:
        event["pathParameters"] = params
    if text is not None:
        event["body"] = text
    return event


def _event_v1(
    route: HttpRoute,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    params: dict[str, str],
    context: dict[str, Any],
) -> dict[str, Any]:
    single, multi = _split_query(query)
    text, encoded = _body(body, headers)
    request_context = {k: v for k, v in context.items() if k not in ("http", "authorizer")}
    request_context |= {
        "httpMethod": method,
        "path": context["http"]["path"],
        "identity": {"sourceIp": context["http"]["sourceIp"]},
    }
    if context.get("authorizer"):
        request_context["authorizer"] = context["authorizer"]
    return {
        "version": "1.0",
        "resource": route.path or "$default",
        "path": context["http"]["path"],
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": single,
        "multiValueQueryStringParameters": multi,
        "requestContext": request_context,
        "pathParameters": params or None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": encoded,
    }


def _response(result: Any, version: str) -> tuple[int, dict[str, str], bytes, list[str]]:
    """The integration's answer as HTTP APIs read it: with payload 2.0 a result without statusCode is
    the JSON body of a 200 (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        if version != "2.0":
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}', []
        body = result if isinstance(result, str) else json.dumps(result)
        return 200, {"content-type": "application/json"}, body.encode(), []
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(key).lower()] = ",".join(str(v) for v in values)
    raw = result.get("body") or ""
    payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers.setdefault("content-type", "application/json")
    return int(result["statusCode"]), headers, payload, [str(c) for c in result.get("cookies") or []]
