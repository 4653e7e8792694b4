"""API Gateway REST APIs served on localhost from the template's resources/methods: Lambda proxy and
non-proxy integrations, AWS service integrations (`service_integration.py`) and MOCK ones.

Per request, in API Gateway's order: route (else 403 Missing Authentication Token), the method's Cognito
authorizer (else 401), required request parameters (else 400), then the integration. Errors API Gateway
answers itself go through the API's gateway responses (`gateway_responses.py`).
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_runtime import gateway_responses, mapping, vtl
from local_runtime.api_keys import ApiKey, UsageMeter, stage_keys
from local_runtime.authorizer import CognitoAuthorizer, UnauthorizedError
from local_runtime.gateway_responses import GatewayResponse
from local_runtime.http_server import LocalServer, respond
from local_runtime.iam import AwsRequest
from local_runtime.iam_auth import IamAuthorizer
from local_runtime.lambda_authorizer import DEFAULT_TTL_S, AuthorizerDeniedError, LambdaAuthorizer
from local_runtime.permissions import execute_api_arn
from local_runtime.request_validation import Validation, api_models, method_validation
from local_runtime.service_integration import (
    IncomingRequest,
    IntegrationConfigError,
    ServiceCalls,
    ServiceTarget,
    parse_target,
)
from local_runtime.stage_throttling import NOT_THROTTLED, MethodThrottles, StageMeter, method_throttles
from local_runtime.templates import App, Stack, TemplateError
from local_runtime.workers import Invocation

if TYPE_CHECKING:
    from local_runtime.swagger import Swagger

MAX_PAYLOAD_BYTES = (
    10 * 1024 * 1024
)  # https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
SWAGGER_PREFIX = "/_local/swagger/"  # outside every stage: API Gateway answers 403 there

log = logging.getLogger("local_runtime.api")
_FUNCTION_ARN = re.compile(r"functions/(arn:[^/]+)/invocations")


@dataclass
class Method:
    http_method: str
    resource_path: str
    kind: str  # "proxy" | "mock" | other integration type
    function_arn: str | None = None
    mock_status: int = 200
    mock_headers: dict[str, str] = field(default_factory=dict)
    mock_template: vtl.Template | None = None  # the integration response's mapping template
    # Non-proxy Lambda integration (Type AWS): request templates by content type, passthrough behaviour,
    # and the integration responses (StatusCode, SelectionPattern, ResponseParameters, ResponseTemplates).
    request_templates: dict[str, str] = field(default_factory=dict)
    passthrough: str = "WHEN_NO_MATCH"
    integration_responses: list[dict[str, Any]] = field(default_factory=list)
    service: ServiceTarget | None = None  # an AWS service integration (Type AWS, not Lambda)
    validation: Validation = field(default_factory=Validation)  # the method's request validator
    api_key_required: bool = False
    authorizer: CognitoAuthorizer | LambdaAuthorizer | None = None
    authorization_scopes: list[str] = field(default_factory=list)
    iam_auth: bool = False  # AuthorizationType AWS_IAM: a SigV4-signed caller allowed execute-api:Invoke
    timeout_s: float = 29.0  # the integration's TimeoutInMillis (API Gateway's default, 29 s)


@dataclass
class RestApi:
    logical_id: str
    stack: str
    api_id: str
    name: str
    stage: str
    binary_media_types: list[str]
    methods: dict[str, dict[str, Method]]  # resource path -> HTTP method -> Method
    gateway_responses: dict[str, GatewayResponse] = field(default_factory=dict)  # by response type
    stages: dict[str, dict[str, str]] = field(default_factory=dict)  # every stage -> its stage variables
    stage_variables: dict[str, str] = field(default_factory=dict)  # those of `stage`
    api_keys: dict[str, list[ApiKey]] = field(default_factory=dict)  # by stage: the keys usage plans allow
    throttles: dict[str, MethodThrottles] = field(default_factory=dict)  # by stage: its MethodSettings

    def __post_init__(self) -> None:
        if not self.stages:
            self.stages = {self.stage: self.stage_variables}

    def at_stage(self, name: str) -> RestApi:
        """The API as a request to one of its stages sees it (its name and stage variables)."""
        return dataclasses.replace(self, stage=name, stage_variables=self.stages.get(name, {}))

    def function_arn(self, method: Method) -> str:
        """The method's function, with `${stageVariables.name}` (e.g. an alias) filled from the stage."""
        return re.sub(
            r"\$\{stageVariables\.([A-Za-z0-9_]+)\}",
            lambda m: self.stage_variables.get(m.group(1), ""),
            str(method.function_arn),
        )

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """(resource path, path parameters) of the most specific resource matching `path`."""
        segments = [s for s in path.split("/") if s]
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for resource_path in self.methods:
            parts = [p for p in resource_path.split("/") if p]
            params: dict[str, str] = {}
            score: list[int] = []
            ok = True
            for index, part in enumerate(parts):
                if part.startswith("{") and part.endswith("+}"):
                    if index >= len(segments):
                        ok = False
                        break
                    params[part[1:-2]] = "/".join(segments[index:])
                    score.append(0)
                    segments_used = len(segments)
                    break
                if index >= len(segments):
                    ok = False
                    break
                if part.startswith("{") and part.endswith("}"):
                    params[part[1:-1]] = unquote(segments[index])
                    score.append(1)
                elif part == segments[index]:
                    score.append(2)
                else:
                    ok = False
                    break
            else:
                segments_used = len(parts)
            if not ok or segments_used != len(segments):
                continue
            key = tuple(score)
            if best is None or key > best[0]:
                best = (key, resource_path, params)
        return None if best is None else (best[1], best[2])


def rest_apis(app: App) -> list[RestApi]:
    apis = []
    for stack, api_lid, api_resource in app.all_resources("AWS::ApiGateway::RestApi"):
        api_props = app.resolve(stack, api_resource.get("Properties", {}))
        paths = _resource_paths(stack, api_lid)
        validators = {
            lid: (
                str(
                    app.resolve(stack, r.get("Properties", {}).get("ValidateRequestParameters", False))
                ).lower()
                == "true",
                str(app.resolve(stack, r.get("Properties", {}).get("ValidateRequestBody", False))).lower()
                == "true",
            )
            for lid, r in stack.of_type("AWS::ApiGateway::RequestValidator").items()
        }
        models = api_models(app, stack, api_lid)
        authorizers = _authorizers(app, stack, api_lid)
        methods: dict[str, dict[str, Method]] = {}
        for lid, resource in stack.of_type("AWS::ApiGateway::Method").items():
            props = resource.get("Properties", {})
            if props.get("RestApiId") != {"Ref": api_lid}:
                continue
            resource_id = props.get("ResourceId")
            if isinstance(resource_id, dict) and "Ref" in resource_id:
                resource_path = paths[resource_id["Ref"]]
            else:
                resource_path = "/"
            method = _method(app, stack, props, resource_path)
            method.validation = method_validation(app, stack, props, validators, models)
            _attach_authorizer(app, stack, lid, props, method, authorizers)
            methods.setdefault(resource_path, {})[method.http_method] = method
        responses = {
            response.response_type: response
            for response in (
                gateway_responses.from_properties(app.resolve(stack, r.get("Properties", {})))
                for r in stack.of_type("AWS::ApiGateway::GatewayResponse").values()
                if r.get("Properties", {}).get("RestApiId") == {"Ref": api_lid}
            )
        }
        stage_resources = {  # only what is used is resolved (an access log destination may not resolve)
            str(app.resolve(stack, r["Properties"].get("StageName"))): {
                key: app.resolve(stack, r["Properties"].get(key)) for key in ("Variables", "MethodSettings")
            }
            for r in stack.of_type("AWS::ApiGateway::Stage").values()
            if r.get("Properties", {}).get("RestApiId") == {"Ref": api_lid}
        }
        stages = {
            name: {str(k): str(v) for k, v in (props.get("Variables") or {}).items()}
            for name, props in stage_resources.items()
        }
        first = next(iter(stages), "prod")
        apis.append(
            RestApi(
                logical_id=api_lid,
                stack=stack.name,
                api_id=app.ref(stack, api_lid),
                name=str(api_props.get("Name", api_lid)),
                stage=first,
                binary_media_types=[t.replace("~1", "/") for t in api_props.get("BinaryMediaTypes", [])],
                methods=methods,
                gateway_responses=responses,
                stages=stages,
                stage_variables=stages.get(first, {}),
                api_keys=stage_keys(app, stack, api_lid),
                throttles={
                    name: method_throttles(props.get("MethodSettings") or [])
                    for name, props in stage_resources.items()
                },
            )
        )
    return apis


def _authorizers(
    app: App, stack: Stack, api_lid: str
) -> dict[str, CognitoAuthorizer | LambdaAuthorizer | str]:
    """The API's authorizers by logical id; a type that is not emulated maps to its type name."""
    found: dict[str, CognitoAuthorizer | LambdaAuthorizer | str] = {}
    for lid, resource in stack.of_type("AWS::ApiGateway::Authorizer").items():
        raw = resource.get("Properties", {})
        if raw.get("RestApiId") != {"Ref": api_lid}:
            continue
        props = app.resolve(stack, raw)
        kind = str(props.get("Type", ""))
        if kind in ("TOKEN", "REQUEST"):
            found[lid] = _lambda_authorizer(app, stack, lid, props)
            continue
        if kind != "COGNITO_USER_POOLS":
            found[lid] = kind
            continue
        source = str(props.get("IdentitySource", "method.request.header.Authorization"))
        if not source.startswith("method.request.header."):
            raise TemplateError(
                f"{stack.name}/{lid}: identity source {source} is not emulated (headers only)"
            )
        try:
            found[lid] = CognitoAuthorizer(
                logical_id=lid,
                name=str(props.get("Name", lid)),
                header=source.removeprefix("method.request.header."),
                provider_arns=[str(a) for a in props.get("ProviderARNs", [])],
                validation_expression=props.get("IdentityValidationExpression"),
            )
        except ValueError as error:
            raise TemplateError(f"{stack.name}/{lid}: {error}") from error
    return found


def _lambda_authorizer(app: App, stack: Stack, lid: str, props: dict[str, Any]) -> LambdaAuthorizer:
    match = _FUNCTION_ARN.search(str(props.get("AuthorizerUri", "")))
    if match is None:
        raise TemplateError(
            f"{stack.name}/{lid}: authorizer URI {props.get('AuthorizerUri')} is not a Lambda function"
        )
    kind = str(props["Type"])
    default = "method.request.header.Authorization" if kind == "TOKEN" else ""
    sources = [s.strip() for s in str(props.get("IdentitySource", default)).split(",") if s.strip()]
    return LambdaAuthorizer(
        logical_id=lid,
        authorizer_id=str(app.ref(stack, lid)),
        name=str(props.get("Name", lid)),
        kind=kind,
        identity_sources=sources,
        function_arn=match.group(1),
        ttl_s=int(props.get("AuthorizerResultTtlInSeconds", DEFAULT_TTL_S)),
        validation_expression=props.get("IdentityValidationExpression"),
    )


def _attach_authorizer(
    app: App,
    stack: Stack,
    lid: str,
    props: dict[str, Any],
    method: Method,
    authorizers: dict[str, CognitoAuthorizer | LambdaAuthorizer | str],
) -> None:
    kind = str(app.resolve(stack, props.get("AuthorizationType", "NONE"))).upper()
    if kind == "NONE":
        return
    if kind == "AWS_IAM":
        method.iam_auth = True
        return
    if kind == "CUSTOM":
        ref = props.get("AuthorizerId")
        custom = authorizers.get(ref.get("Ref", "")) if isinstance(ref, dict) else None
        if not isinstance(custom, LambdaAuthorizer):
            raise TemplateError(f"{stack.name}/{lid}: CUSTOM method without a Lambda authorizer of this API")
        method.authorizer = custom
        return
    if kind != "COGNITO_USER_POOLS":  # refused rather than served without the check AWS would make
        raise TemplateError(
            f"{stack.name}/{lid}: authorization type {kind} is not emulated locally "
            "(only NONE, AWS_IAM, COGNITO_USER_POOLS and CUSTOM)"
        )
    ref = props.get("AuthorizerId")
    authorizer = authorizers.get(ref.get("Ref", "")) if isinstance(ref, dict) else None
    if not isinstance(authorizer, CognitoAuthorizer):
        kind_of = authorizer.kind if isinstance(authorizer, LambdaAuthorizer) else authorizer
        what = f"authorizer type {kind_of}" if authorizer else f"authorizer {ref!r} (not in this API)"
        raise TemplateError(f"{stack.name}/{lid}: COGNITO_USER_POOLS method with {what}: not emulated")
    method.authorizer = authorizer
    method.authorization_scopes = [str(s) for s in app.resolve(stack, props.get("AuthorizationScopes", []))]


def _resource_paths(stack: Stack, api_lid: str) -> dict[str, str]:
    resources = {
        lid: r.get("Properties", {})
        for lid, r in stack.of_type("AWS::ApiGateway::Resource").items()
        if r.get("Properties", {}).get("RestApiId") == {"Ref": api_lid}
    }
    paths: dict[str, str] = {}

    def path_of(lid: str) -> str:
        if lid in paths:
            return paths[lid]
        props = resources[lid]
        parent = props.get("ParentId")
        parent_path = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        paths[lid] = f"{parent_path.rstrip('/')}/{props['PathPart']}"
        return paths[lid]

    for lid in resources:
        path_of(lid)
    return paths


def _method(app: App, stack: Stack, props: dict[str, Any], resource_path: str) -> Method:
    http_method = str(props.get("HttpMethod", "ANY")).upper()
    integration = props.get("Integration", {})
    kind = str(integration.get("Type", "")).upper()
    method = Method(http_method, resource_path, kind)
    method.timeout_s = int(app.resolve(stack, integration.get("TimeoutInMillis", 29000))) / 1000
    if kind == "AWS_PROXY":
        method.kind = "proxy"
        match = _FUNCTION_ARN.search(str(app.resolve(stack, integration.get("Uri", ""))))
        method.function_arn = match.group(1) if match else None
    elif kind == "AWS":
        uri = str(app.resolve(stack, integration.get("Uri", "")))
        match = _FUNCTION_ARN.search(uri)
        if match:  # non-proxy Lambda
            method.kind, method.function_arn = "lambda", match.group(1)
        else:
            method.kind = "service"
            credentials = app.resolve(stack, integration.get("Credentials"))
            try:
                method.service = parse_target(
                    uri,
                    str(integration.get("IntegrationHttpMethod", "POST")).upper(),
                    str(credentials) if credentials else None,
                    app.resolve(stack, integration.get("RequestParameters") or {}),
                )
            except TemplateError as error:
                raise TemplateError(f"{stack.name}: {http_method} {resource_path}: {error}") from error
        # Both ways mapped: request templates by content type, integration responses by selection.
        method.request_templates = {
            str(k): str(v) for k, v in app.resolve(stack, integration.get("RequestTemplates") or {}).items()
        }
        method.passthrough = str(integration.get("PassthroughBehavior", "WHEN_NO_MATCH"))
        method.integration_responses = app.resolve(stack, integration.get("IntegrationResponses") or [])
    elif kind == "MOCK":
        method.kind = "mock"
        responses = integration.get("IntegrationResponses", [])
        if responses:
            method.mock_status = int(responses[0].get("StatusCode", 200))
            for key, value in app.resolve(stack, responses[0].get("ResponseParameters", {})).items():
                method.mock_headers[key.removeprefix("method.response.header.")] = str(value).strip("'")
            templates = app.resolve(stack, responses[0].get("ResponseTemplates") or {})
            if templates:
                # e.g. CDK's CORS preflight for several origins echoes an allowed Origin from VTL.
                source = templates.get("application/json", next(iter(templates.values())))
                try:
                    method.mock_template = vtl.compile_template(str(source))
                except TemplateError as error:
                    raise TemplateError(
                        f"{stack.name}: MOCK {http_method} {resource_path}: {error}"
                    ) from error
    method.api_key_required = str(app.resolve(stack, props.get("ApiKeyRequired", False))).lower() == "true"
    return method


def proxy_event(
    api: RestApi,
    account: str,
    method: Method,
    http_method: str,
    raw_path: str,
    stage_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    path_params: dict[str, str],
    source_ip: str,
    request_id: str | None = None,
    claims: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    caller: dict[str, Any] | None = None,
) -> dict[str, Any]:
    query = parse_qsl(urlsplit(raw_path).query, keep_blank_values=True)
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for key, value in headers:
        single_headers[key] = value
        multi_headers.setdefault(key, []).append(value)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for key, value in query:
        single_query[key] = value
        multi_query.setdefault(key, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    binary = bool(body) and any(
        fnmatch.fnmatch(content_type.split(";")[0].strip(), pattern) for pattern in api.binary_media_types
    )
    if binary:
        body_text: str | None = base64.b64encode(body).decode()
    else:
        body_text = body.decode("utf-8", "replace") if body else None
    now = datetime.now(UTC)
    request_id = request_id or str(uuid.uuid4())
    event: dict[str, Any] = {
        "resource": method.resource_path,
        "path": stage_path,
        "httpMethod": http_method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": api.stage_variables or None,
        "requestContext": {
            "accountId": account,
            "apiId": api.api_id,
            "resourceId": api.api_id[:6],
            "resourcePath": method.resource_path,
            "httpMethod": http_method,
            "path": f"/{api.stage}{stage_path}",
            "stage": api.stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": "HTTP/1.1",
            "domainName": single_headers.get("Host", "localhost"),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": single_headers.get("User-Agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
        },
        "body": body_text,
        "isBase64Encoded": binary,
    }
    if caller is not None:  # an AWS_IAM method's signer
        event["requestContext"]["identity"].update(caller)
    if claims is not None:  # only methods with an authorizer get the key, as in API Gateway
        event["requestContext"]["authorizer"] = {"claims": claims}
    if authorizer is not None:  # a Lambda authorizer's principalId and context
        event["requestContext"]["authorizer"] = authorizer
    return event


Invoke = Callable[[str, Any, str], Invocation]
# (authorizer, method scopes, request headers) -> rendered claims, or UnauthorizedError
Authorize = Callable[[CognitoAuthorizer, list[str], dict[str, str]], dict[str, str]]


def _refuse_all(authorizer: CognitoAuthorizer, scopes: list[str], headers: dict[str, str]) -> dict[str, str]:
    raise UnauthorizedError(reason="no token verifier configured")


@dataclass
class Call:
    """One request to a method, as its authorizers and integration see it."""

    api: RestApi  # at the request's stage
    handler: BaseHTTPRequestHandler
    method: Method
    stage_path: str
    body: bytes
    path_params: dict[str, str]
    request: gateway_responses.Request
    authorizer: dict[str, Any] | None = None  # Cognito claims or a Lambda authorizer's context

    @property
    def http_method(self) -> str:
        return self.handler.command.upper()


class ApiServer:
    def __init__(
        self,
        api: RestApi,
        invoke: Invoke,
        account: str,
        port: int = 0,
        authorize: Authorize | None = None,
        swagger: Swagger | None = None,
        may_invoke: Callable[[str, str], bool] | None = None,
        region: str = "us-east-1",
        service_calls: ServiceCalls | None = None,
        iam_authorizer: IamAuthorizer | None = None,
        function_timeout: Callable[[str], float] | None = None,
        stage_throttling: bool = True,
    ) -> None:
        self._iam_authorizer = iam_authorizer  # AWS_IAM methods' SigV4 and execute-api:Invoke check
        # A function's own timeout: one longer than its integration's may outlast it (504).
        self._function_timeout = function_timeout
        self._slow_calls = ThreadPoolExecutor(max_workers=16, thread_name_prefix="api-slow-call")
        self._invoke = invoke
        self._service_calls = service_calls  # AWS service integrations' calls, as their Credentials role
        # (function ARN, source ARN) -> whether the function's permissions let API Gateway invoke it
        self._may_invoke = may_invoke
        self.region = region
        self._authorize = authorize or _refuse_all
        self.account = account
        self.swagger = swagger
        self._usage = UsageMeter()  # API keys' usage plan throttles and quotas
        self._stage_limits = StageMeter(enabled=stage_throttling)  # each stage's method throttling
        self._server = LocalServer(self.handle, port=port, name=f"api-{api.name}")
        self.port = self._server.port
        self.replace(api)

    def replace(self, api: RestApi) -> None:
        """A redeploy's version of the API: the next request is routed by it (same port)."""
        self.api = api
        self.base_url = f"http://localhost:{self.port}/{api.stage}/"

    @property
    def swagger_url(self) -> str | None:
        served = self.swagger is not None and self.swagger.dist is not None
        return f"http://localhost:{self.port}{SWAGGER_PREFIX}" if served else None

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
        self._slow_calls.shutdown(wait=False)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:  # API Gateway's 10 MB payload quota
            remaining = length  # read and dropped, so the client gets the answer
            while remaining > 0 and (chunk := handler.rfile.read(min(1 << 20, remaining))):
                remaining -= len(chunk)
            self._send(
                handler,
                413,
                {"x-amzn-ErrorType": "RequestEntityTooLargeException"},
                {"message": "Request Too Long"},
            )
            return
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        if self.swagger is not None and path.startswith(SWAGGER_PREFIX) and handler.command == "GET":
            status, content_type, data = self.swagger.serve(path, self.api, self.base_url)
            self._send(handler, status, {"Content-Type": content_type, "Cache-Control": "no-store"}, data)
            return
        stage = path.split("/")[1] if path.count("/") >= 1 else ""
        if stage not in self.api.stages:  # no such stage: API Gateway's 403
            self._send(handler, 403, {"x-amzn-ErrorType": "ForbiddenException"}, {"message": "Forbidden"})
            return
        api = self.api.at_stage(stage)
        stage_path = path[len(stage) + 1 :] or "/"
        matched = api.match(stage_path)
        http_method = handler.command.upper()
        methods = api.methods.get(matched[0], {}) if matched else {}
        method = methods.get(http_method) or methods.get("ANY")
        request_id = str(uuid.uuid4())
        request_headers = dict(handler.headers.items())
        query_pairs = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
        request = gateway_responses.Request(
            context={
                "requestId": request_id,
                "extendedRequestId": request_id,
                "apiId": api.api_id,
                "accountId": self.account,
                "stage": api.stage,
                "path": f"/{api.stage}{stage_path}",
                "resourcePath": method.resource_path if method else "",
                "httpMethod": http_method,
                "domainName": request_headers.get("Host", "localhost"),
                "identity": {
                    "sourceIp": handler.client_address[0],
                    "userAgent": request_headers.get("User-Agent"),
                },
            },
            headers=request_headers,
            query=dict(query_pairs),
            path=matched[1] if matched else {},
        )
        if matched is None or method is None:
            self._gateway_error(
                handler, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", request
            )
            return
        call = Call(api, handler, method, stage_path, body, matched[1], request)
        claims = None
        lambda_context = None
        caller = None
        if method.iam_auth:
            try:
                caller = self._iam_authorize(call)
            except AuthorizerDeniedError as denied:
                log.warning("%s %s: %s (AWS_IAM): %s", http_method, path, denied.response_type, denied.reason)
                self._gateway_error(handler, denied.response_type, denied.message, request)
                return
        if isinstance(method.authorizer, LambdaAuthorizer):
            try:
                lambda_context = self._lambda_authorize(call)
            except AuthorizerDeniedError as denied:
                log.warning(
                    "%s %s: %s (%s): %s",
                    http_method,
                    path,
                    denied.response_type,
                    method.authorizer.name,
                    denied.reason,
                )
                self._gateway_error(handler, denied.response_type, denied.message, request)
                return
        elif method.authorizer is not None:
            try:
                claims = self._authorize(method.authorizer, method.authorization_scopes, request_headers)
            except UnauthorizedError as failure:
                log.warning("%s %s: 401 (%s): %s", http_method, path, method.authorizer.name, failure.reason)
                self._gateway_error(handler, "UNAUTHORIZED", failure.message, request)
                return
        call.authorizer = lambda_context or claims
        if method.api_key_required:
            value = handler.headers.get("x-api-key") or ""  # header names are case-insensitive
            key = next((k for k in api.api_keys.get(api.stage, []) if k.value == value), None)
            if key is None:
                log.warning(
                    "%s %s: 403: no valid API key (x-api-key) for stage %s", http_method, path, api.stage
                )
                self._gateway_error(handler, "INVALID_API_KEY", "Forbidden", request)
                return
            refused = self._usage.admit(key, api.stage, matched[0], http_method)
            if refused is not None:
                message = "Too Many Requests" if refused == "THROTTLED" else "Limit Exceeded"
                log.warning("%s %s: 429 %s (usage plan of API key %s)", http_method, path, message, key.name)
                self._gateway_error(handler, refused, message, request)
                return
        # Each method has its own bucket (an ANY method one for all its verbs).
        throttle = api.throttles.get(api.stage, NOT_THROTTLED).for_method(matched[0], method.http_method)
        if not self._stage_limits.admit(api.stage, matched[0], method.http_method, throttle):
            log.warning(
                "%s %s: 429 Too Many Requests (stage %s method throttling)", http_method, path, api.stage
            )
            self._gateway_error(handler, "THROTTLED", "Too Many Requests", request)
            return
        missing = method.validation.missing_parameters(dict(query_pairs), request_headers)
        if missing:
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            self._gateway_error(handler, "BAD_REQUEST_PARAMETERS", message, request)
            return
        content_type = (handler.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        problem = method.validation.body_problem(content_type, body)
        if problem is not None:
            log.warning("%s %s: 400 Invalid request body: %s", http_method, path, problem)
            self._gateway_error(handler, "BAD_REQUEST_BODY", "Invalid request body", request)
            return
        if method.kind == "mock":
            self._send_mock(handler, method, request)
            return
        if method.kind == "lambda" and method.function_arn:
            self._lambda_integration(call)
            return
        if method.kind == "service":
            self._service_integration(call)
            return
        if method.kind != "proxy" or not method.function_arn:
            self._send(
                handler, 500, {}, {"message": f"Integration type {method.kind} is not emulated locally"}
            )
            return
        event = proxy_event(
            api,
            self.account,
            method,
            http_method,
            handler.path,
            stage_path,
            list(handler.headers.items()),
            body,
            matched[1],
            handler.client_address[0],
            request_id=request_id,
            claims=claims,
            authorizer=lambda_context,
            caller=caller,
        )
        if not self._integration_permitted(call):
            self._gateway_error(handler, "API_CONFIGURATION_ERROR", "Internal server error", request)
            return
        started = time.perf_counter()
        function = api.function_arn(method)
        invocation = self._invoke_within(method, function, event, f"api {http_method} {method.resource_path}")
        if invocation is None:
            self._gateway_error(handler, "INTEGRATION_TIMEOUT", "Endpoint request timed out", request)
            return
        base_headers = {"x-amzn-RequestId": request_id, "x-amz-apigw-id": request_id[:16]}
        result = invocation.result
        if not invocation.ok or not isinstance(result, dict) or "statusCode" not in result:
            if invocation.ok:
                log.error("%s returned a malformed proxy response", function)
            self._gateway_error(handler, "DEFAULT_5XX", "Internal server error", request)
            return
        headers = dict(base_headers)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key] = ", ".join(str(v) for v in values)
        headers.update({k: str(v) for k, v in (result.get("headers") or {}).items()})
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        headers.setdefault("Content-Type", "application/json")
        log.debug(
            "%s %s -> %s in %.1f ms",
            http_method,
            path,
            result["statusCode"],
            (time.perf_counter() - started) * 1000,
        )
        self._send(handler, int(result["statusCode"]), headers, payload)

    def _invoke_within(self, method: Method, function: str, event: Any, trigger: str) -> Invocation | None:
        """The invocation, or None when it outlasts the integration's timeout: API Gateway then answers
        504 while the function goes on running, as in AWS. A function whose own timeout is shorter
        cannot outlast it and is invoked on this thread."""
        if self._function_timeout is None or self._function_timeout(function) <= method.timeout_s:
            return self._invoke(function, event, trigger)
        future = self._slow_calls.submit(self._invoke, function, event, trigger)
        try:
            return future.result(timeout=method.timeout_s)
        except FutureTimeout:
            log.error("%s: Execution failed due to a timeout error after %.1f s", trigger, method.timeout_s)
            return None

    def _method_arn(self, call: Call) -> str:
        """The method's ARN: what IAM authorizes, and the source Lambda permissions name."""
        api = call.api
        return execute_api_arn(
            self.region, self.account, api.api_id, api.stage, call.http_method, call.stage_path
        )

    def _integration_permitted(self, call: Call) -> bool:
        """The function's permissions let API Gateway invoke it for this method and path (proxy or not)."""
        source_arn = self._method_arn(call)
        function = call.api.function_arn(call.method)
        if self._may_invoke is None or self._may_invoke(function, source_arn):
            return True
        log.error(
            "%s %s: Execution failed due to configuration error: Invalid permissions on Lambda function "
            "(no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke %s from %s)",
            call.http_method,
            call.method.resource_path,
            function,
            source_arn,
        )
        return False

    def _integration_request(self, call: Call) -> tuple[str, dict[str, Any]] | None:
        """A non-proxy integration's request body and `$context`: the request template for the request's
        content type rendered, or the body passed through as the passthrough behaviour allows. None once
        the refusal (415) or mapping error (500) is answered."""
        method, request, handler = call.method, call.request, call.handler
        content_type = (handler.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        template = method.request_templates.get(content_type)
        if template is None and (
            method.passthrough == "NEVER"
            or (method.passthrough == "WHEN_NO_TEMPLATES" and method.request_templates)
        ):
            self._send(handler, 415, {}, {"message": "Unsupported Media Type"})
            return None
        params = {
            "path": call.path_params,
            "querystring": request.query,
            "header": dict(handler.headers.items()),
        }
        context = {**request.context, "authorizer": call.authorizer or {}}
        text = call.body.decode(errors="replace")
        if template is None:
            return text, context
        try:
            rendered = mapping.render(
                template, mapping.Input(text, params), context, call.api.stage_variables
            )
            return rendered, context
        except TemplateError as error:
            log.error("%s %s: request mapping failed: %s", call.http_method, method.resource_path, error)
            self._gateway_error(handler, "DEFAULT_5XX", "Internal server error", request)
            return None

    def _method_response(
        self, call: Call, selector: str | None, output: tuple[str, dict[str, str]], context: dict[str, Any]
    ) -> None:
        """The integration response `selector` selects (see mapping.select_response) maps the integration's
        output (body, headers) to the method response: its parameters, then its template (none: the body
        as it is)."""
        output_text, output_headers = output
        chosen = mapping.select_response(call.method.integration_responses, selector)
        if chosen is None:
            self._gateway_error(call.handler, "DEFAULT_5XX", "Internal server error", call.request)
            return
        headers = mapping.response_parameters(
            chosen.get("ResponseParameters") or {}, output_text, output_headers
        )
        templates = chosen.get("ResponseTemplates") or {}
        response_template = templates.get("application/json", next(iter(templates.values()), None))
        try:
            data = (
                mapping.render(
                    response_template, mapping.Input(output_text), context, call.api.stage_variables
                )
                if response_template
                else output_text
            )
        except TemplateError as error:
            log.error("%s: response mapping failed: %s", call.method.resource_path, error)
            self._gateway_error(call.handler, "DEFAULT_5XX", "Internal server error", call.request)
            return
        headers.setdefault("Content-Type", "application/json")
        self._send(call.handler, int(chosen.get("StatusCode", 200)), headers, data.encode())

    def _lambda_integration(self, call: Call) -> None:
        """A non-proxy Lambda integration: the request template makes the event, the function's result or
        error selects an integration response (SelectionPattern against errorMessage; no match: the
        default response), whose template and parameters make the method response."""
        method = call.method
        mapped = self._integration_request(call)
        if mapped is None:
            return
        payload_text, context = mapped
        try:
            event = json.loads(payload_text) if payload_text.strip() else {}
        except ValueError as error:
            log.error(
                "%s %s: the request mapping is not JSON: %s", call.http_method, method.resource_path, error
            )
            self._gateway_error(call.handler, "DEFAULT_5XX", "Internal server error", call.request)
            return
        if not self._integration_permitted(call):
            self._gateway_error(
                call.handler, "API_CONFIGURATION_ERROR", "Internal server error", call.request
            )
            return
        trigger = f"api {call.http_method} {method.resource_path}"
        invocation = self._invoke_within(method, call.api.function_arn(method), event, trigger)
        if invocation is None:
            self._gateway_error(
                call.handler, "INTEGRATION_TIMEOUT", "Endpoint request timed out", call.request
            )
            return
        output = invocation.result if invocation.ok else invocation.error
        selector = None if invocation.ok else str((invocation.error or {}).get("errorMessage", ""))
        self._method_response(call, selector, (json.dumps(output), {}), context)

    def _service_integration(self, call: Call) -> None:
        """An AWS service integration: the mapped request goes to the service as the Credentials role; the
        response's HTTP status code selects the integration response (an error no pattern matches gets
        the default one, as in AWS: often a 200 carrying the service's error)."""
        method, request = call.method, call.request
        assert method.service is not None
        if self._service_calls is None:
            self._gateway_error(call.handler, "DEFAULT_5XX", "Internal server error", request)
            return
        mapped = self._integration_request(call)
        if mapped is None:
            return
        payload_text, context = mapped
        text = call.body.decode(errors="replace")
        incoming = IncomingRequest(
            call.path_params, request.query, request.headers, text, context, call.api.stage_variables
        )
        try:
            answer = self._service_calls.call(method.service, incoming, payload_text)
        except IntegrationConfigError as error:
            log.error(
                "%s %s: Execution failed due to configuration error: %s",
                call.http_method,
                method.resource_path,
                error,
            )
            self._gateway_error(call.handler, "API_CONFIGURATION_ERROR", "Internal server error", request)
            return
        output = (answer.body.decode(errors="replace"), answer.headers)
        self._method_response(call, str(answer.status), output, context)

    def _iam_authorize(self, call: Call) -> dict[str, Any]:
        if self._iam_authorizer is None:
            raise AuthorizerDeniedError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        handler = call.handler
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = AwsRequest(handler.command, handler.path, headers, call.body)
        return self._iam_authorizer.authorize(request, self._method_arn(call))

    def _lambda_authorize(self, call: Call) -> dict[str, Any]:
        authorizer = call.method.authorizer
        assert isinstance(authorizer, LambdaAuthorizer)
        handler = call.handler
        method_arn = self._method_arn(call)
        api_arn = f"arn:aws:execute-api:{self.region}:{self.account}:{call.api.api_id}"
        source = f"{api_arn}/authorizers/{authorizer.authorizer_id}"
        headers = dict(handler.headers.items())

        def request_event() -> dict[str, Any]:
            event = proxy_event(
                call.api,
                self.account,
                call.method,
                call.http_method,
                handler.path,
                call.stage_path,
                list(handler.headers.items()),
                call.body,
                call.path_params,
                handler.client_address[0],
            )
            keep = (
                "resource",
                "path",
                "httpMethod",
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "pathParameters",
                "stageVariables",
                "requestContext",
            )
            return {k: event.get(k) for k in keep}

        query = dict(parse_qsl(urlsplit(handler.path).query, keep_blank_values=True))
        return authorizer.authorize(
            method_arn,
            headers,
            query,
            request_event,
            self._invoke,
            lambda function: self._may_invoke is None or self._may_invoke(function, source),
        )

    def _send_mock(
        self, handler: BaseHTTPRequestHandler, method: Method, request: gateway_responses.Request
    ) -> None:
        status, headers, body = method.mock_status, dict(method.mock_headers), None
        if method.mock_template is not None:
            rendered = method.mock_template.render(
                vtl.Request(headers=request.headers, query=request.query, path=request.path)
            )
            # $context.responseOverride replaces the integration response's status and headers.
            status = rendered.status or status
            headers.update(rendered.headers)
            if rendered.body.strip() and status not in (204, 304):
                body = rendered.body.encode()
        self._send(handler, status, headers, body)

    def _gateway_error(
        self,
        handler: BaseHTTPRequestHandler,
        response_type: str,
        message: str,
        request: gateway_responses.Request,
    ) -> None:
        rendered = gateway_responses.render(self.api.gateway_responses, response_type, message, request)
        request_id = request.context["requestId"]
        headers = {"x-amzn-RequestId": request_id, "x-amz-apigw-id": request_id[:16], **rendered.headers}
        self._send(handler, rendered.status, headers, rendered.body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: Any) -> None:
        respond(handler, status, headers, body)
